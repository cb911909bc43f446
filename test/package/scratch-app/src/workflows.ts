// The app's workflows. Each row goes to the batcher with batchedWrite; its request id comes from
// the business key, so a re-run of the same order writes nothing twice.
import { batchedWrite, writeErrorType, type BatchedWriteResult } from '@write-batcher/requester';
import type { Customer, Order, OrderEvent, OrderLine, StockLevel } from './rows';

/** Workflow input is JSON: the date, the big integer and the bytes come as text. */
export interface OrderInput {
  orderId: string;
  customer: string;
  total: string;
  placedAt: string;
  ref: string;
  details: Order['details'];
  sigHex: string;
  lines: Array<Pick<OrderLine, 'sku' | 'qty' | 'price' | 'gift_wrap'>>;
  batcherQueue?: string;
}

export interface OrderResult {
  order: string;
  lines: string[];
  event?: string;
}

/** 'committed' or 'duplicate', or the error type that says why the row was not written. */
async function outcome(write: Promise<BatchedWriteResult>): Promise<string> {
  try {
    return (await write).status;
  } catch (err) {
    const type = writeErrorType(err);
    if (type === undefined) throw err;
    return type;
  }
}

const bytes = (hex: string) => Uint8Array.from(hex.match(/../g) ?? [], (h) => parseInt(h, 16));

export async function orderWorkflow(input: OrderInput): Promise<OrderResult> {
  const key = `order:${input.orderId}`;
  const opts = (requestId: string) => ({ requestId, taskQueue: input.batcherQueue });
  const placedAt = new Date(input.placedAt);
  const order = await outcome(
    batchedWrite<Order>(
      'orders',
      {
        order_id: input.orderId,
        customer: input.customer,
        total: input.total,
        placed_at: placedAt,
        ref: BigInt(input.ref),
        details: input.details,
        sig: bytes(input.sigHex),
      },
      opts(key),
    ),
  );
  if (order !== 'committed' && order !== 'duplicate') return { order, lines: [] };
  const [event, ...lines] = await Promise.all([
    outcome(batchedWrite<OrderEvent>('order_events', { order_id: input.orderId, kind: 'placed', at: placedAt }, opts(`${key}:placed`))),
    ...input.lines.map((line, i) =>
      outcome(batchedWrite<OrderLine>('order_lines', { order_id: input.orderId, line_no: i + 1, ...line }, opts(`${key}:line:${i + 1}`))),
    ),
  ]);
  return { order, lines, event };
}

export async function restockWorkflow(input: StockLevel & { requestId: string; batcherQueue?: string }): Promise<string> {
  const { requestId, batcherQueue, ...row } = input;
  return outcome(batchedWrite<StockLevel>('stock', row, { requestId, taskQueue: batcherQueue }));
}

export async function registerCustomerWorkflow(input: Customer & { batcherQueue?: string }): Promise<string> {
  const { batcherQueue, ...row } = input;
  return outcome(batchedWrite<Customer>('customers', row, { requestId: `customer:${row.customer_id}`, taskQueue: batcherQueue }));
}
