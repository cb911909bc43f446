// Database errors as the batcher sorts them: a row's own data (never retried, the row is isolated
// and refused), or the database being unavailable (retried). Names come from the server's own error
// table: mysql2 names errors from MySQL's, where MariaDB's 4025 (a CHECK constraint failed) is
// "ER_INNODB_AUTOEXTEND_SIZE_OUT_OF_RANGE". Messages never carry the statement's SQL or values.

export interface SqlError extends Error {
  errno?: number;
  code?: string;
  sqlMessage?: string;
  sql?: string;
}

/** Errors caused by a row's own data, with the names both servers give them (where they differ, by server). */
const DATA_ERRORS: Record<number, { mysql: string; mariadb: string }> = {
  1048: { mysql: 'ER_BAD_NULL_ERROR', mariadb: 'ER_BAD_NULL_ERROR' },
  1062: { mysql: 'ER_DUP_ENTRY', mariadb: 'ER_DUP_ENTRY' },
  1264: { mysql: 'ER_WARN_DATA_OUT_OF_RANGE', mariadb: 'ER_WARN_DATA_OUT_OF_RANGE' },
  1292: { mysql: 'ER_TRUNCATED_WRONG_VALUE', mariadb: 'ER_TRUNCATED_WRONG_VALUE' },
  1300: { mysql: 'ER_INVALID_CHARACTER_STRING', mariadb: 'ER_INVALID_CHARACTER_STRING' },
  1365: { mysql: 'ER_DIVISION_BY_ZERO', mariadb: 'ER_DIVISION_BY_ZERO' },
  1366: { mysql: 'ER_TRUNCATED_WRONG_VALUE_FOR_FIELD', mariadb: 'ER_TRUNCATED_WRONG_VALUE_FOR_FIELD' },
  1406: { mysql: 'ER_DATA_TOO_LONG', mariadb: 'ER_DATA_TOO_LONG' },
  1452: { mysql: 'ER_NO_REFERENCED_ROW_2', mariadb: 'ER_NO_REFERENCED_ROW_2' },
  1265: { mysql: 'WARN_DATA_TRUNCATED', mariadb: 'WARN_DATA_TRUNCATED' },
  3140: { mysql: 'ER_INVALID_JSON_TEXT', mariadb: 'ER_UNKNOWN_ERROR_3140' },
  3819: { mysql: 'ER_CHECK_CONSTRAINT_VIOLATED', mariadb: 'ER_UNKNOWN_ERROR_3819' },
  4025: { mysql: 'ER_INNODB_AUTOEXTEND_SIZE_OUT_OF_RANGE', mariadb: 'ER_CONSTRAINT_FAILED' },
};
/** Of those, the ones each server raises for a row's data (4025 is a data error on MariaDB only). */
const DATA_ERRNOS: Record<'mysql' | 'mariadb', Set<number>> = {
  mysql: new Set([1048, 1062, 1264, 1265, 1292, 1300, 1365, 1366, 1406, 1452, 3140, 3819]),
  mariadb: new Set([1048, 1062, 1264, 1265, 1292, 1300, 1365, 1366, 1406, 1452, 4025]),
};

export type ServerKind = 'mysql' | 'mariadb';

export function serverKindOf(version: string | undefined): ServerKind {
  return /mariadb/i.test(version ?? '') ? 'mariadb' : 'mysql';
}

export function isDataError(err: unknown, server: ServerKind): err is SqlError {
  const errno = (err as SqlError | undefined)?.errno;
  return typeof errno === 'number' && DATA_ERRNOS[server].has(errno);
}

/** The error's name as this server names it. */
export function errorName(err: SqlError, server: ServerKind): string {
  const known = err.errno === undefined ? undefined : DATA_ERRORS[err.errno];
  return known ? known[server] : (err.code ?? `errno ${err.errno ?? '?'}`);
}

/**
 * A one-line description without SQL: name, errno and the server's message. For a batch-level log
 * line pass `withMessage: false`: a server message can quote a row's value (`Duplicate entry 'x'`).
 */
export function describeDbError(err: unknown, server: ServerKind, withMessage = true): string {
  const e = err as SqlError;
  if (typeof e?.errno !== 'number')
    return `${(e as Error | undefined)?.name ?? 'Error'}: ${withMessage ? String((e as Error | undefined)?.message ?? e) : 'connection or client error'}`;
  return `${errorName(e, server)} (errno ${e.errno})${withMessage ? `: ${e.sqlMessage ?? ''}` : ''}`;
}
