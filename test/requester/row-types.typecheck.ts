// Compile-time checks of the requester's types: `npm run build` compiles this file (test/tsconfig.json),
// so a call marked @ts-expect-error that starts to compile, or a good call that stops compiling,
// fails the build. Nothing here runs: the functions are declared, never called.
import { batchedWrite, defineTables } from '@write-batcher/requester';

interface Meta {
  source: string;
  tags: readonly string[];
  nested: { depth: number };
}
interface Order {
  order_id: string;
  total: string;
  placed_at: Date;
  amount: bigint;
  meta: Meta;
  notes?: string | null;
}
interface Customer {
  customer_id: string;
  name: string;
}

declare const order: Order;
declare const customer: Customer;
declare const loose: Record<string, unknown>;

export async function goodCalls(): Promise<void> {
  // A JSON column typed as an interface, readonly arrays in it, optional fields.
  await batchedWrite('orders', order, { requestId: 'order:1', timeout: '2 minutes', attemptTimeout: 30_000 });
  await batchedWrite<Order>('orders', order);
  await batchedWrite('events', loose);
  await batchedWrite('events', { id: 'e-1', payload: { a: [1, 2, { b: null }] }, at: new Date(), bytes: new Uint8Array(2) });
  const tables = defineTables<{ orders: Order; customers: Customer }>();
  await tables.batchedWrite('orders', order, { timeout: '90s' });
  await tables.batchedWrite('customers', customer);
}

export async function badCalls(): Promise<void> {
  // @ts-expect-error a string is not a row
  await batchedWrite('orders', 'not a row');
  // @ts-expect-error an array is not a row
  await batchedWrite('orders', [order]);
  // @ts-expect-error null is not a row
  await batchedWrite('orders', null);
  // @ts-expect-error a timeout ms cannot read
  await batchedWrite('orders', order, { timeout: 'two minutes' });
  // @ts-expect-error a Date inside a JSON column is not JSON
  await batchedWrite('events', { payload: { at: new Date() } });
  // @ts-expect-error a function is not a column value
  await batchedWrite('events', { f: () => 1 });
  const tables = defineTables<{ orders: Order; customers: Customer }>();
  // @ts-expect-error a table the map does not declare
  await tables.batchedWrite('order', order);
  // @ts-expect-error another table's row
  await tables.batchedWrite('customers', order);
}
