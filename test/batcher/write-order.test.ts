// The order a batch writes its tables in: parents before children by their foreign keys, otherwise
// as given. Pure: no server (the foreign keys as the catalog reads them from information_schema).
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { parentsFirst } from '@write-batcher/batcher/testing';

const order = (tables: string[], parents: Record<string, string[]>) =>
  parentsFirst(
    tables,
    (t) => t,
    (t) => parents[t] ?? [],
  );

describe('parents before children', () => {
  it('when a child table comes first, then its parent is written just before it, and the others keep their order', () => {
    expect(order(['lines', 'audit', 'orders'], { lines: ['orders'] })).toEqual(['orders', 'lines', 'audit']);
    expect(order(['c', 'b', 'a'], { c: ['b'], b: ['a'] })).toEqual(['a', 'b', 'c']);
  });

  it('when tables reference themselves or each other, then every table is written once and nothing loops', () => {
    expect(order(['tree'], { tree: ['tree'] })).toEqual(['tree']);
    expect(order(['x', 'y'], { x: ['y'], y: ['x'] }).sort()).toEqual(['x', 'y']);
  });

  it('for any tables and references, then each table appears once, and every parent that is not in a cycle with it comes first', () => {
    const names = ['a', 'b', 'c', 'd', 'e', 'f'];
    fc.assert(
      fc.property(
        fc.shuffledSubarray(names, { minLength: 1 }),
        fc.dictionary(fc.constantFrom(...names), fc.subarray(names)),
        (tables, parents) => {
          const out = order(tables, parents);
          expect([...out].sort()).toEqual([...tables].sort());
          // Reachability through the parents within the batch: a parent that cannot reach its child back must come first.
          const reaches = (from: string, to: string, seen = new Set<string>()): boolean =>
            (parents[from] ?? []).some((p) => tables.includes(p) && (p === to || (!seen.has(p) && (seen.add(p), reaches(p, to, seen)))));
          for (const child of tables)
            for (const parent of parents[child] ?? [])
              if (tables.includes(parent) && parent !== child && !reaches(parent, child))
                expect(out.indexOf(parent)).toBeLessThan(out.indexOf(child));
        },
      ),
    );
  });
});
