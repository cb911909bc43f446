// The README's adoption sections are true: the packages it tells you to install are the ones this
// repository builds, its errors table is exactly the error types batchedWrite throws, and its modes
// are exactly the modes the batcher accepts. (The code it shows runs in scratch-app.test.ts.)
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { checkTargets } from '@write-batcher/batcher/testing';
import { BatcherErrorTypes } from '@write-batcher/requester';

const root = path.resolve(__dirname, '../..');
const readme = readFileSync(path.join(root, 'README.md'), 'utf8');
const pkg = (dir: string) =>
  JSON.parse(readFileSync(path.join(root, dir, 'package.json'), 'utf8')) as {
    name: string;
    version: string;
    private?: boolean;
    peerDependencies?: Record<string, string>;
    dependencies?: Record<string, string>;
  };

/** The first-column entries of the markdown table that follows a heading. */
function tableAfter(heading: string): string[] {
  const at = readme.indexOf(heading);
  expect(at, `README has a "${heading}" section`).toBeGreaterThan(-1);
  const lines = readme.slice(at).split('\n');
  const first = lines.findIndex((l) => l.startsWith('|'));
  const rows: string[] = [];
  for (const line of lines.slice(first + 2)) {
    if (!line.startsWith('|')) break;
    rows.push(
      (line.split('|')[1] ?? '')
        .trim()
        .replace(/`/g, '')
        .replace(/ \(default\)$/, ''),
    );
  }
  return rows;
}

describe('README: using the library', () => {
  it('when it says what to install, then those are the packages this repository builds, publishable and lean', () => {
    for (const dir of ['packages/requester', 'packages/batcher']) {
      const p = pkg(dir);
      expect(p.private).toBeUndefined();
      expect(readme).toContain(`npm install ${p.name}`);
      expect(readme).toContain(`${p.name.replace('@', '').replace('/', '-')}-${p.version}.tgz`);
      // The SDK is the host's: peers only, never a second copy; no service stack.
      for (const dep of Object.keys(p.dependencies ?? {}))
        expect(
          dep.startsWith('@temporalio/') || ['express', 'pino', 'zod', '@opentelemetry/sdk-node'].includes(dep),
          `${p.name} depends on ${dep}`,
        ).toBe(false);
      expect(Object.keys(p.peerDependencies ?? {})).toContain('@temporalio/workflow');
    }
  });

  it('when it lists the typed failures, then the table is exactly the error types batchedWrite can throw', () => {
    const listed = tableAfter('### Typed failures, and what to do').sort();
    const thrown = Object.values(BatcherErrorTypes)
      .filter((t) => t !== BatcherErrorTypes.DatabaseUnavailable)
      .sort();
    expect(listed).toEqual(thrown);
  });

  it('when it lists the write modes, then the batcher accepts exactly those', () => {
    const modes = tableAfter('### Write modes');
    expect(modes).toEqual(['insert', 'insert-ignore', 'upsert']);
    for (const mode of modes) expect(() => checkTargets([{ table: 't', mode: mode as never }])).not.toThrow();
    expect(() => checkTargets([{ table: 't', mode: 'replace' as never }])).toThrow(/mode "replace" is not insert, insert-ignore or upsert/);
  });

  it('when it advises what to do after a failure, then it never says to retry with the same request id', () => {
    const section = readme.slice(readme.indexOf('### Typed failures, and what to do'), readme.indexOf('## How it works'));
    expect(section).not.toMatch(/same request id|same workflow id/i);
    expect(section).toContain('retryRequestId');
  });
});
