// Compiled, never run: rows the compiler must refuse (tsc fails if one of them is accepted).
import { batchedWrite } from '@write-batcher/requester';
import type { Customer } from './rows';

export async function refusedByTheCompiler(): Promise<void> {
  // @ts-expect-error a Map is no column value
  await batchedWrite<{ id: string; seen: Map<string, number> }>('t', { id: 'a', seen: new Map() });
  // @ts-expect-error a function is no column value
  await batchedWrite<{ id: string; run: () => void }>('t', { id: 'a', run: () => undefined });
  // @ts-expect-error a Customer row needs its name
  await batchedWrite<Customer>('customers', { customer_id: 'k-1' });
}
