// Compiled, never run: rows the compiler must refuse (tsc fails if one of them is accepted).
import { batchedWrite, defineTables } from '@write-batcher/requester';
import type { Customer, Order } from './rows';

export async function refusedByTheCompiler(): Promise<void> {
  // @ts-expect-error a Map is no column value
  await batchedWrite<{ id: string; seen: Map<string, number> }>('t', { id: 'a', seen: new Map() });
  // @ts-expect-error a function is no column value
  await batchedWrite<{ id: string; run: () => void }>('t', { id: 'a', run: () => undefined });
  // @ts-expect-error a Customer row needs its name
  await batchedWrite<Customer>('customers', { customer_id: 'k-1' });
  const tables = defineTables<{ customers: Customer; orders: Order }>();
  // @ts-expect-error a unit's row names a table that is not one of the app's
  await tables.batchedWriteUnit([{ table: 'custommers', row: { customer_id: 'k-1', name: 'n' } }]);
  // @ts-expect-error a unit's customers row needs its name
  await tables.batchedWriteUnit([{ table: 'customers', row: { customer_id: 'k-1' } }]);
}
