// A team's own schema, as a team would create it beside the batcher's ledger: an account table
// written by upsert on its email, an event table written insert-ignore on its event id (its own
// AUTO_INCREMENT id), and an order table with its lines (a FOREIGN KEY, CHECKs, a composite unique
// key). DECIMAL, DATETIME, TIMESTAMP and JSON columns. Every row carries the request id that wrote it
// (`written_by`), so the audit can tell whose row the table holds.
import type { TargetTable } from '@write-batcher/batcher';
import { DEMO_TARGETS } from '@batcher/demo/tables';

export const TEAM_TABLES = {
  accounts: 'team_accounts',
  events: 'team_events',
  orders: 'team_orders',
  lines: 'team_order_lines',
} as const;

export const TEAM_SCHEMA_STATEMENTS: readonly string[] = [
  `CREATE TABLE IF NOT EXISTS ${TEAM_TABLES.accounts} (
  id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
  email VARCHAR(191) NOT NULL,
  display_name VARCHAR(200) NOT NULL,
  balance DECIMAL(14,2) NOT NULL,
  seen_at TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  metadata JSON NULL,
  written_by VARCHAR(255) NOT NULL,
  UNIQUE KEY uq_email (email)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4`,
  `CREATE TABLE IF NOT EXISTS ${TEAM_TABLES.events} (
  id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
  event_id CHAR(36) NOT NULL,
  account_email VARCHAR(191) NOT NULL,
  kind ENUM('login','purchase','refund') NOT NULL,
  amount DECIMAL(12,2) NULL,
  occurred_at DATETIME(3) NOT NULL,
  received_at TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  payload JSON NULL,
  written_by VARCHAR(255) NOT NULL,
  UNIQUE KEY uq_event_id (event_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4`,
  `CREATE TABLE IF NOT EXISTS ${TEAM_TABLES.orders} (
  order_id VARCHAR(64) NOT NULL PRIMARY KEY,
  account_email VARCHAR(191) NOT NULL,
  order_no INT NOT NULL,
  total DECIMAL(14,2) NOT NULL,
  placed_at DATETIME(3) NOT NULL,
  paid_at TIMESTAMP(3) NULL DEFAULT NULL,
  metadata JSON NULL,
  written_by VARCHAR(255) NOT NULL,
  UNIQUE KEY uq_account_order (account_email, order_no),
  CONSTRAINT ck_order_total CHECK (total >= 0)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4`,
  `CREATE TABLE IF NOT EXISTS ${TEAM_TABLES.lines} (
  order_id VARCHAR(64) NOT NULL,
  line_no SMALLINT NOT NULL,
  sku VARCHAR(64) NOT NULL,
  qty INT NOT NULL,
  unit_price DECIMAL(10,2) NOT NULL,
  written_by VARCHAR(255) NOT NULL,
  PRIMARY KEY (order_id, line_no),
  CONSTRAINT fk_line_order FOREIGN KEY (order_id) REFERENCES ${TEAM_TABLES.orders} (order_id),
  CONSTRAINT ck_line_qty CHECK (qty > 0)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4`,
];

/** The team's tables as the batcher worker declares them. */
export const TEAM_TARGETS: readonly TargetTable[] = [
  { table: TEAM_TABLES.accounts, mode: 'upsert', key: ['email'] },
  { table: TEAM_TABLES.events, mode: 'insert-ignore', key: ['event_id'] },
  { table: TEAM_TABLES.orders, mode: 'insert' },
  { table: TEAM_TABLES.lines, mode: 'insert' },
];

/** BATCHER_TABLES for the stack's batcher worker: the demo's tables (its main worker still runs) and the team's. */
export const TEAM_BATCHER_TABLES = JSON.stringify([...DEMO_TARGETS, ...TEAM_TARGETS]);

/** The mode of each team table, for the audit. */
export const TEAM_MODES: Readonly<Record<string, 'insert' | 'insert-ignore' | 'upsert'>> = Object.fromEntries(
  TEAM_TARGETS.map((t) => [t.table, t.mode ?? 'insert']),
);

/**
 * The columns the audit reads back and how: `decimal` as exact text, `datetime` as its stored wall
 * clock (the batcher writes UTC), `timestamp` as the instant (UNIX_TIMESTAMP, whatever the session's
 * zone), `json` parsed; the row's identity is `written_by`, its key `key`.
 */
export const TEAM_COLUMNS: Readonly<
  Record<string, { key: readonly string[]; columns: Record<string, 'text' | 'int' | 'decimal' | 'datetime' | 'timestamp' | 'json'> }>
> = {
  [TEAM_TABLES.accounts]: {
    key: ['email'],
    columns: { email: 'text', display_name: 'text', balance: 'decimal', seen_at: 'timestamp', metadata: 'json' },
  },
  [TEAM_TABLES.events]: {
    key: ['event_id'],
    columns: {
      event_id: 'text',
      account_email: 'text',
      kind: 'text',
      amount: 'decimal',
      occurred_at: 'datetime',
      received_at: 'timestamp',
      payload: 'json',
    },
  },
  [TEAM_TABLES.orders]: {
    key: ['order_id'],
    columns: {
      order_id: 'text',
      account_email: 'text',
      order_no: 'int',
      total: 'decimal',
      placed_at: 'datetime',
      paid_at: 'timestamp',
      metadata: 'json',
    },
  },
  [TEAM_TABLES.lines]: {
    key: ['order_id', 'line_no'],
    columns: { order_id: 'text', line_no: 'int', sku: 'text', qty: 'int', unit_price: 'decimal' },
  },
};

type Queryable = { query(sql: string): Promise<unknown> };

/** Creates the team's tables (after the batcher's migrate(), which creates only the ledger). Idempotent. */
export async function applyTeamSchema(conn: Queryable): Promise<void> {
  for (const sql of TEAM_SCHEMA_STATEMENTS) await conn.query(sql);
}
