// A batcher worker's announcement of its settings, on the shard's side, with no server: the
// fingerprint both sides compute (settings-fingerprint.ts) and what ShardLoop does with an
// announcement (settingsAnnounced). The real round trip: test/batcher/settings-reload.test.ts.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DEFAULT_BATCHER_SETTINGS, type BatcherSettings } from '@write-batcher/batcher';
import {
  MAX_SETTINGS_FINGERPRINT_LENGTH,
  ShardBook,
  ShardLoop,
  canonicalJson,
  settingsFingerprint,
  type HistoryInfo,
} from '@write-batcher/batcher/testing';
import { demoRequests } from '../support/requests';

const small: HistoryInfo = { historyLength: 50, historySize: 10_000, continueAsNewSuggested: false };
const routing = { taskQueue: 'batcher-queue', shards: 2, workflowIdPrefix: 'write-batcher' };
/** What a worker's batcherSettings activity returns. */
const served = (over: Partial<BatcherSettings> = {}) => ({ ...DEFAULT_BATCHER_SETTINGS, tables: ['demo_orders'], ...over, routing });

const loopOn = (fp: string | undefined, over: Partial<BatcherSettings> = {}) =>
  new ShardLoop(
    new ShardBook(0, { ...DEFAULT_BATCHER_SETTINGS, ...over }, { batchToken: () => 'tok', dueFromSubmission: true }, undefined),
    false,
    fp,
  );

describe('settings fingerprint', () => {
  it('when two settings differ in a value or a table, then their fingerprints differ; in key order only, they are the same', () => {
    const base = settingsFingerprint(served());
    expect(base).toMatch(/^s1-[0-9a-f]{16}-\d+$/);
    expect(base.length).toBeLessThanOrEqual(MAX_SETTINGS_FINGERPRINT_LENGTH);
    expect(settingsFingerprint(served({ flushIntervalMs: 20_001 }))).not.toBe(base);
    expect(settingsFingerprint(served({ tables: ['demo_orders', 't2'] }))).not.toBe(base);
    expect(settingsFingerprint({ ...served(), routing: { ...routing, shards: 3 } })).not.toBe(base);
    const reversed = Object.fromEntries(Object.entries(served()).reverse());
    expect(settingsFingerprint(reversed)).toBe(base);
  });

  it('when any JSON value is fingerprinted, then its keys in any order give the same text and fingerprint, of bounded length', () => {
    const shuffled = (v: unknown): unknown => {
      if (Array.isArray(v)) return v.map(shuffled);
      if (typeof v === 'object' && v !== null)
        return Object.fromEntries(
          Object.entries(v)
            .reverse()
            .map(([k, x]) => [k, shuffled(x)]),
        );
      return v;
    };
    fc.assert(
      fc.property(fc.jsonValue(), (value) => {
        expect(canonicalJson(shuffled(value))).toBe(canonicalJson(value));
        expect(JSON.parse(canonicalJson(value))).toEqual(JSON.parse(JSON.stringify(value)));
        const fp = settingsFingerprint(value);
        expect(fp).toBe(settingsFingerprint(shuffled(value)));
        expect(fp.length).toBeLessThanOrEqual(MAX_SETTINGS_FINGERPRINT_LENGTH);
      }),
    );
  });
});

describe('ShardLoop.settingsAnnounced', () => {
  it('when the announced fingerprint is the run’s own, or not a fingerprint at all, then nothing changes', () => {
    const loop = loopOn('s1-own');
    const version = loop.version;
    for (const announced of ['s1-own', '', 42, null, undefined, { fp: 'x' }, 'x'.repeat(MAX_SETTINGS_FINGERPRINT_LENGTH + 1)])
      expect(loop.settingsAnnounced(announced)).toBe(false);
    expect(loop.version).toBe(version);
    expect(loop.next(1000, small).continueAsNew).toBeUndefined();
    expect(loop.stats(1000).settingsReloads).toBeUndefined();
    expect(loop.stats(1000).settingsFingerprint).toBe('s1-own');
  });

  it('when a run of unknown settings is announced anything, then it does not continue as new', () => {
    const loop = loopOn(undefined);
    expect(loop.settingsAnnounced('s1-other')).toBe(false);
    expect(loop.next(1000, small).continueAsNew).toBeUndefined();
  });

  it('when other settings are announced, then the run continues as new once, at its next pause, carrying its pending requests and the reload count', () => {
    const loop = loopOn('s1-own');
    loop.offer(demoRequests(3, 'kept'), 1000);
    expect(loop.settingsAnnounced('s1-new')).toBe(true);
    // Announced again (another worker, the second round): the run continues as new once all the same.
    expect(loop.settingsAnnounced('s1-newer')).toBe(false);
    expect(loop.settingsAnnounced('s1-new')).toBe(false);
    // Within 200 ms of the last submit signal: not yet, a timer brings the loop back at the pause.
    const early = loop.next(1100, small);
    expect(early.continueAsNew).toBeUndefined();
    expect(early.batches).toEqual([]);
    expect(early.timers).toContain(1200);
    const end = loop.next(1200, small);
    expect(end.continueAsNew?.state.pending.map((p) => p.requestId)).toEqual(demoRequests(3, 'kept').map((r) => r.requestId));
    expect(end.continueAsNew?.state.counters.settingsReloads).toBe(1);
    expect(end.continueAsNew?.state.counters.continueAsNewCount).toBe(1);
    expect(loop.stats(1200).settingsReloads).toBe(1);
  });

  it('when the next run was announced other settings again, then its count goes on from the carried one', () => {
    const first = loopOn('s1-a');
    first.settingsAnnounced('s1-b');
    const carried = first.next(1000, small).continueAsNew?.state;
    expect(carried).toBeDefined();
    const second = new ShardLoop(
      new ShardBook(0, DEFAULT_BATCHER_SETTINGS, { batchToken: () => 'tok', dueFromSubmission: true }, carried),
      false,
      's1-b',
    );
    expect(second.settingsAnnounced('s1-b')).toBe(false);
    expect(second.next(2000, small).continueAsNew).toBeUndefined();
    expect(second.settingsAnnounced('s1-c')).toBe(true);
    expect(second.next(2000, small).continueAsNew?.state.counters.settingsReloads).toBe(2);
  });

  it('when a write is in flight as other settings are announced, then the run continues as new only after it finished', () => {
    const loop = loopOn('s1-own', { flushPolicy: 'eager' });
    loop.offer(demoRequests(1, 'w'), 1000);
    const [batch] = loop.next(1000, small).batches;
    expect(batch).toBeDefined();
    loop.settingsAnnounced('s1-new');
    expect(loop.next(1300, small).continueAsNew).toBeUndefined();
    loop.batchWritten(
      batch!,
      {
        batchId: batch!.batchId,
        outcomes: [{ requestId: batch!.rows[0]!.requestId, status: 'committed', batchId: batch!.batchId }],
        statements: 4,
        durationMs: 1,
        repliesUndeliverable: 0,
      },
      1300,
    );
    const end = loop.next(1300, small);
    expect(end.continueAsNew?.state.pending).toEqual([]);
    expect(end.continueAsNew?.state.counters.rowsWritten).toBe(1);
  });
});
