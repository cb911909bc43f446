// The chart's helm-unittest suites (charts/write-batcher/tests), one vitest test per helm-unittest
// test, read from its JUnit report, so `npm test` counts them like every other test.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { chartDir, missingTools, runTool, tools } from './render-chart';

interface Case {
  suite: string;
  name: string;
  failure?: string;
}

/** The <testcase> elements of a JUnit report, with their suite and failure text. */
function parseJUnit(xml: string): Case[] {
  const unescape = (s: string) =>
    s
      .replace(/&#x([0-9a-fA-F]+);/g, (_, hex: string) => String.fromCodePoint(parseInt(hex, 16)))
      .replace(/&#(\d+);/g, (_, dec: string) => String.fromCodePoint(Number(dec)))
      .replace(/&lt;/g, '<')
      .replace(/&gt;/g, '>')
      .replace(/&quot;/g, '"')
      .replace(/&apos;/g, "'")
      .replace(/&amp;/g, '&');
  const attr = (tag: string, name: string) => unescape(new RegExp(`\\b${name}="([^"]*)"`).exec(tag)?.[1] ?? '');
  const cases: Case[] = [];
  for (const suite of xml.matchAll(/<testsuite\b([^>]*)>([\s\S]*?)<\/testsuite>/g)) {
    const suiteName = attr(suite[1]!, 'name');
    for (const tc of suite[2]!.matchAll(/<testcase\b([^>]*?)(?:\/>|>([\s\S]*?)<\/testcase>)/g)) {
      const failure = /<(failure|error)\b([^>]*)(?:\/>|>([\s\S]*?)<\/\1>)/.exec(tc[2] ?? '');
      cases.push({
        suite: suiteName,
        name: attr(tc[1]!, 'name'),
        failure: failure ? unescape(`${attr(failure[2]!, 'message')}\n${failure[3] ?? ''}`).trim() || 'failed' : undefined,
      });
    }
  }
  return cases;
}

const skip = missingTools('helm-unittest', 'helmUnittest');

/** Runs every suite once, at collection, so each helm-unittest test becomes a vitest test. */
function runUnittest(): { cases: Case[]; status: number | null; output: string } {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'helm-unittest-'));
  try {
    const report = path.join(dir, 'report.xml');
    const r = runTool(tools.helmUnittest, ['--strict', '--color=false', '-t', 'JUnit', '-o', report, chartDir]);
    let xml = '';
    try {
      xml = readFileSync(report, 'utf8');
    } catch {
      // no report: the run crashed; the test below says so with its output
    }
    return { cases: parseJUnit(xml), status: r.status, output: r.output };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe.skipIf(skip)('helm-unittest (charts/write-batcher/tests)', () => {
  const run = skip ? { cases: [], status: 0, output: '' } : runUnittest();

  it('runs every suite and reports every test', () => {
    expect(run.cases.length, run.output).toBeGreaterThan(0);
    // A crash, or a failing snapshot without a failed test, still fails here.
    if (run.cases.every((c) => !c.failure)) expect(run.status, run.output).toBe(0);
  });

  it.each(run.cases.map((c) => [`${c.suite} › ${c.name}`, c] as const))('%s', (_title, c) => {
    if (c.failure) throw new Error(c.failure);
  });
});
