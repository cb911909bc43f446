// The rows this app writes, one interface per table: plain interfaces, no index signature, the
// column types the app thinks in (exact decimals as strings, Date, bigint, bytes, JSON objects).

export interface Order {
  order_id: string;
  customer: string;
  total: string; // DECIMAL(12,2), exact
  placed_at: Date; // DATETIME(3), written in UTC
  ref: bigint; // BIGINT, beyond 2^53
  details: { channel: string; gift: boolean; tags: string[] }; // JSON
  sig: Uint8Array; // VARBINARY(16)
  note?: string; // has a default
}

export interface OrderLine {
  order_id: string;
  line_no: number;
  sku: string;
  qty: number;
  price: string;
  gift_wrap?: boolean; // comes with the next migration: the table has no such column yet
}

export interface OrderEvent {
  order_id: string;
  kind: string;
  at: Date;
}

export interface StockLevel {
  sku: string;
  email: string;
  qty: number;
}

export interface Customer {
  customer_id: string;
  name: string;
}
