// The app's schema (its own tables), then the batcher's ledger: run once before the workers start.
import { migrate } from '@write-batcher/batcher';
import mysql from 'mysql2/promise';
import { mysqlOptions } from './config';

const TABLES = [
  `CREATE TABLE IF NOT EXISTS orders (
     order_id VARCHAR(32) NOT NULL PRIMARY KEY,
     customer VARCHAR(8) NOT NULL,
     total DECIMAL(12,2) NOT NULL,
     placed_at DATETIME(3) NOT NULL,
     ref BIGINT NOT NULL,
     details JSON NOT NULL,
     sig VARBINARY(16) NOT NULL,
     note VARCHAR(40) NOT NULL DEFAULT ''
   )`,
  `CREATE TABLE IF NOT EXISTS order_lines (
     order_id VARCHAR(32) NOT NULL,
     line_no INT NOT NULL,
     sku VARCHAR(16) NOT NULL,
     qty INT UNSIGNED NOT NULL,
     price DECIMAL(10,2) NOT NULL,
     PRIMARY KEY (order_id, line_no)
   )`,
  // No natural key: a row written twice would be two rows.
  `CREATE TABLE IF NOT EXISTS order_events (
     id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
     order_id VARCHAR(32) NOT NULL,
     kind VARCHAR(16) NOT NULL,
     at DATETIME(3) NOT NULL
   )`,
  // Two unique keys: the batcher upserts on sku (declared), never on email.
  `CREATE TABLE IF NOT EXISTS stock (
     id INT NOT NULL AUTO_INCREMENT PRIMARY KEY,
     sku VARCHAR(16) NOT NULL,
     email VARCHAR(64) NOT NULL,
     qty INT NOT NULL,
     UNIQUE KEY uq_sku (sku),
     UNIQUE KEY uq_email (email)
   )`,
  `CREATE TABLE IF NOT EXISTS customers (customer_id VARCHAR(16) NOT NULL PRIMARY KEY, name VARCHAR(32) NOT NULL)`,
];

async function main(): Promise<void> {
  const pool = mysql.createPool(mysqlOptions);
  try {
    for (const sql of TABLES) await pool.query(sql);
    await migrate(pool);
  } finally {
    await pool.end();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
