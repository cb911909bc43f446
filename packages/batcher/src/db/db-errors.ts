// Database errors as the batcher sorts them, each errno once (classifyDbError):
// - data: the row's own data (never retried: the row is isolated and refused alone, typed);
// - transient: the database is unavailable for a while (retried until it is back);
// - configuration: a table, column or grant is not what the batcher was told; the table is re-read
//   once, rows that no longer fit it are refused, and the rest waits for the operator (retried).
// Names come from the server's own error table: mysql2 names errors from MySQL's, where MariaDB's
// 4025 (a CHECK constraint failed) is "ER_INNODB_AUTOEXTEND_SIZE_OUT_OF_RANGE". Messages never carry
// the statement's SQL or values.

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
  1216: { mysql: 'ER_NO_REFERENCED_ROW', mariadb: 'ER_NO_REFERENCED_ROW' },
  1263: { mysql: 'ER_WARN_NULL_TO_NOTNULL', mariadb: 'ER_WARN_NULL_TO_NOTNULL' },
  1264: { mysql: 'ER_WARN_DATA_OUT_OF_RANGE', mariadb: 'ER_WARN_DATA_OUT_OF_RANGE' },
  1265: { mysql: 'WARN_DATA_TRUNCATED', mariadb: 'WARN_DATA_TRUNCATED' },
  1292: { mysql: 'ER_TRUNCATED_WRONG_VALUE', mariadb: 'ER_TRUNCATED_WRONG_VALUE' },
  1300: { mysql: 'ER_INVALID_CHARACTER_STRING', mariadb: 'ER_INVALID_CHARACTER_STRING' },
  1364: { mysql: 'ER_NO_DEFAULT_FOR_FIELD', mariadb: 'ER_NO_DEFAULT_FOR_FIELD' },
  1365: { mysql: 'ER_DIVISION_BY_ZERO', mariadb: 'ER_DIVISION_BY_ZERO' },
  1366: { mysql: 'ER_TRUNCATED_WRONG_VALUE_FOR_FIELD', mariadb: 'ER_TRUNCATED_WRONG_VALUE_FOR_FIELD' },
  1367: { mysql: 'ER_ILLEGAL_VALUE_FOR_TYPE', mariadb: 'ER_ILLEGAL_VALUE_FOR_TYPE' },
  1406: { mysql: 'ER_DATA_TOO_LONG', mariadb: 'ER_DATA_TOO_LONG' },
  1411: { mysql: 'ER_WRONG_VALUE_FOR_TYPE', mariadb: 'ER_WRONG_VALUE_FOR_TYPE' },
  1416: { mysql: 'ER_CANT_CREATE_GEOMETRY_OBJECT', mariadb: 'ER_CANT_CREATE_GEOMETRY_OBJECT' },
  1452: { mysql: 'ER_NO_REFERENCED_ROW_2', mariadb: 'ER_NO_REFERENCED_ROW_2' },
  1526: { mysql: 'ER_NO_PARTITION_FOR_GIVEN_VALUE', mariadb: 'ER_NO_PARTITION_FOR_GIVEN_VALUE' },
  1586: { mysql: 'ER_DUP_ENTRY_WITH_KEY_NAME', mariadb: 'ER_DUP_ENTRY_WITH_KEY_NAME' },
  1644: { mysql: 'ER_SIGNAL_EXCEPTION', mariadb: 'ER_SIGNAL_EXCEPTION' },
  1690: { mysql: 'ER_DATA_OUT_OF_RANGE', mariadb: 'ER_DATA_OUT_OF_RANGE' },
  3140: { mysql: 'ER_INVALID_JSON_TEXT', mariadb: 'ER_UNKNOWN_ERROR_3140' },
  3156: { mysql: 'ER_INVALID_JSON_VALUE_FOR_CAST', mariadb: 'ER_UNKNOWN_ERROR_3156' },
  3819: { mysql: 'ER_CHECK_CONSTRAINT_VIOLATED', mariadb: 'ER_UNKNOWN_ERROR_3819' },
  4025: { mysql: 'ER_INNODB_AUTOEXTEND_SIZE_OUT_OF_RANGE', mariadb: 'ER_CONSTRAINT_FAILED' },
};
/**
 * Of those, the ones each server raises for a row's data (4025 is a data error on MariaDB only;
 * 3140, 3156 and 3819 on MySQL only). 1364 (a NOT NULL column without a default the row leaves
 * out) and 1048 also re-read the table first (SCHEMA_ERRNOS): the refusal then names the column.
 * 1644 is a trigger's SIGNAL: a trigger that checks rows speaks of that row.
 */
const DATA_ERRNOS: Record<'mysql' | 'mariadb', Set<number>> = {
  mysql: new Set([
    1048, 1062, 1216, 1263, 1264, 1265, 1292, 1300, 1364, 1365, 1366, 1367, 1406, 1411, 1416, 1452, 1526, 1586, 1644, 1690, 3140, 3156,
    3819,
  ]),
  mariadb: new Set([
    1048, 1062, 1216, 1263, 1264, 1265, 1292, 1300, 1364, 1365, 1366, 1367, 1406, 1411, 1416, 1452, 1526, 1586, 1644, 1690, 4025,
  ]),
};

/**
 * Configuration: the table, a column or a grant differs from what the batcher knows. None is the
 * row's fault, and each can be mended by the operator, so none refuses a row by itself: the
 * table is re-read once (a row that no longer fits the table as it now is is refused typed, by the
 * same check a new request gets) and the rest waits, retried, for the table to be restored or
 * the grant given. A waiting write ends as its requester's deadline says, never as a refusal.
 */
const CONFIGURATION_ERRNOS = new Set([
  1036, // ER_OPEN_AS_READONLY: the table is read-only
  1044, // ER_DBACCESS_DENIED_ERROR
  1045, // ER_ACCESS_DENIED_ERROR
  1049, // ER_BAD_DB_ERROR: unknown database
  1054, // ER_BAD_FIELD_ERROR: unknown column (dropped or renamed)
  1109, // ER_UNKNOWN_TABLE
  1142, // ER_TABLEACCESS_DENIED_ERROR
  1143, // ER_COLUMNACCESS_DENIED_ERROR
  1146, // ER_NO_SUCH_TABLE (dropped or renamed)
  1227, // ER_SPECIFIC_ACCESS_DENIED_ERROR
  1356, // ER_VIEW_INVALID
  1370, // ER_PROCACCESS_DENIED_ERROR (a trigger's routine)
  1442, // ER_CANT_UPDATE_USED_TABLE_IN_SF_OR_TRG (a trigger writes the table it fires on)
  1698, // ER_ACCESS_DENIED_NO_PASSWORD_ERROR
  1728, // ER_CANNOT_LOAD_FROM_TABLE_V2 (a system table damaged)
]);

/**
 * Errnos after which the table is re-read before anything is refused: the table changed under
 * the worker (a column added, dropped or made NOT NULL, the table dropped or renamed).
 */
const SCHEMA_ERRNOS = new Set([1048, 1054, 1146, 1364]);

/**
 * Transient, named for the record (an errno in no list is treated the same way: retried until
 * the database answers otherwise, since retrying can lose nothing). Client errors without an errno
 * (connection refused or reset, a lost connection, a timeout) are transient too.
 */
const TRANSIENT_ERRNOS = new Set([
  1021, // ER_DISK_FULL
  1030, // ER_GET_ERRNO (storage engine)
  1037, // ER_OUTOFMEMORY
  1038, // ER_OUT_OF_SORTMEMORY
  1040, // ER_CON_COUNT_ERROR
  1053, // ER_SERVER_SHUTDOWN
  1114, // ER_RECORD_FILE_FULL
  1180, // ER_ERROR_DURING_COMMIT
  1203, // ER_TOO_MANY_USER_CONNECTIONS
  1205, // ER_LOCK_WAIT_TIMEOUT
  1213, // ER_LOCK_DEADLOCK
  1226, // ER_USER_LIMIT_REACHED
  1290, // ER_OPTION_PREVENTS_STATEMENT (--read-only)
  1317, // ER_QUERY_INTERRUPTED
  1412, // ER_TABLE_DEF_CHANGED
  1614, // ER_XA_RBDEADLOCK
  1637, // ER_TOO_MANY_CONCURRENT_TRXS
  1792, // ER_CANT_EXECUTE_IN_READ_ONLY_TRANSACTION
  1836, // ER_READ_ONLY_MODE
  1927, // ER_CONNECTION_KILLED (MariaDB)
  1969, // ER_STATEMENT_TIMEOUT (MariaDB max_statement_time)
  2002, // CR_CONNECTION_ERROR
  2003, // CR_CONN_HOST_ERROR
  2006, // CR_SERVER_GONE_ERROR
  2013, // CR_SERVER_LOST
  3024, // ER_QUERY_TIMEOUT (MySQL max_execution_time)
]);

export type DbErrorClass = 'data' | 'transient' | 'configuration';

export interface DbErrorKind {
  class: DbErrorClass;
  /** Re-read the table before deciding anything about the rows. */
  rereadTable: boolean;
}

export type ServerKind = 'mysql' | 'mariadb';

export function serverKindOf(version: string | undefined): ServerKind {
  return /mariadb/i.test(version ?? '') ? 'mariadb' : 'mysql';
}

export function isDataError(err: unknown, server: ServerKind): err is SqlError {
  const errno = (err as SqlError | undefined)?.errno;
  return typeof errno === 'number' && DATA_ERRNOS[server].has(errno);
}

/** The one classification of a database (or driver) error: see the head of this file. */
export function classifyDbError(err: unknown, server: ServerKind): DbErrorKind {
  const errno = (err as SqlError | undefined)?.errno;
  if (typeof errno !== 'number') return { class: 'transient', rereadTable: false };
  const rereadTable = SCHEMA_ERRNOS.has(errno);
  if (DATA_ERRNOS[server].has(errno)) return { class: 'data', rereadTable };
  if (CONFIGURATION_ERRNOS.has(errno)) return { class: 'configuration', rereadTable };
  return { class: 'transient', rereadTable };
}

/** Every errno this file names, by class (for tests and docs). */
export function classifiedErrnos(server: ServerKind): Record<DbErrorClass, number[]> {
  return { data: [...DATA_ERRNOS[server]], configuration: [...CONFIGURATION_ERRNOS], transient: [...TRANSIENT_ERRNOS] };
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
