// A 64-bit hash of a text for the shard's fingerprints (rows, settings): FNV-1a and djb2 side by
// side, 32 bits each. Pure and workflow-safe (no node:crypto); tells texts apart, not a secret.

/** FNV-1a and djb2 over the text's UTF-16 code units, each as an unsigned 32-bit number. */
export function textHash(text: string): [fnv: number, djb2: number] {
  let a = 0x811c9dc5;
  let b = 5381;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    a = Math.imul(a ^ c, 0x01000193);
    b = (Math.imul(b, 33) + c) | 0;
  }
  return [a >>> 0, b >>> 0];
}
