// @batcher/demo/tables: the demo's two tables as the batcher worker declares them (its allow-list)
// and the SQL that creates them. services/batcher-worker runs that SQL after the batcher's own
// migrate() (src/schema.ts); the chart's migration Job runs that command.
//
// Ids are bytes: request_id, requester_workflow_id and batch_id are VARBINARY, so MySQL compares
// them exactly as JavaScript does (under a `_ci` collation `…-Order` and `…-order` were one key).
import type { TargetTable } from '@write-batcher/batcher';
import { DEMO_ORDERS_TABLE, DEMO_TABLE } from './index';

export const DEMO_SCHEMA_SQL = `CREATE TABLE IF NOT EXISTS ${DEMO_TABLE} (
  id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
  request_id VARBINARY(255) NOT NULL,
  requester_workflow_id VARBINARY(255) NOT NULL,
  payload JSON NULL,
  status ENUM('committed','abandoned') NOT NULL DEFAULT 'committed',
  batch_id VARBINARY(128) NULL,
  shard INT NOT NULL,
  written_at TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  UNIQUE KEY uq_request_id (request_id),
  KEY ix_batch_id (batch_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4`;

/**
 * The demo table as a target: the workflow gives `{ payload }`, the batcher fills in the request
 * id, the requester, the batch and the shard. Its key is the request id.
 */
export const DEMO_TARGET: TargetTable = {
  table: DEMO_TABLE,
  mode: 'insert',
  key: ['request_id'],
  fill: { request_id: 'requestId', requester_workflow_id: 'requesterWorkflowId', batch_id: 'batchId', shard: 'shard' },
};

export const DEMO_ORDERS_SCHEMA_SQL = `CREATE TABLE IF NOT EXISTS ${DEMO_ORDERS_TABLE} (
  order_id VARCHAR(200) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL PRIMARY KEY,
  amount_cents BIGINT NOT NULL,
  currency CHAR(3) NOT NULL,
  placed_at DATETIME(3) NOT NULL,
  items JSON NULL,
  written_by_batch VARBINARY(128) NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4`;

export const DEMO_ORDERS_TARGET: TargetTable = { table: DEMO_ORDERS_TABLE, mode: 'insert', fill: { written_by_batch: 'batchId' } };

/** Every table the demo's batcher worker writes (BATCHER_TABLES when unset, see the config loader's MIRRORED_DEFAULTS). */
export const DEMO_TARGETS: readonly TargetTable[] = [DEMO_TARGET, DEMO_ORDERS_TARGET];

/** The statements that create the demo's tables, in order; each is idempotent. */
export const DEMO_SCHEMA_STATEMENTS: readonly string[] = [DEMO_SCHEMA_SQL, DEMO_ORDERS_SCHEMA_SQL];
