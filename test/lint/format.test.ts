// Prettier as a suite of `npm test` (.prettierrc.json and .prettierignore say what it formats): the
// repository is formatted, and the check really looks at the files it should.
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import * as prettier from 'prettier';
import { describe, expect, it } from 'vitest';
import { repoRoot } from '../support/processes';

const run = promisify(execFile);
const bin = path.join(repoRoot, 'node_modules', '.bin', 'prettier');

describe('prettier', () => {
  it(
    'when the repository is checked, then every file it formats is formatted (npm run format fixes it)',
    { timeout: 120_000 },
    async () => {
      const result = await run(bin, ['--check', '.'], { cwd: repoRoot }).then(
        (r) => ({ code: 0, out: `${r.stdout}${r.stderr}` }),
        (err: { code?: number; stdout?: string; stderr?: string }) => ({
          code: err.code ?? 1,
          out: `${err.stdout ?? ''}${err.stderr ?? ''}`,
        }),
      );
      if (result.code !== 0) console.log(result.out);
      expect(result.code).toBe(0);
    },
  );

  it('when a source file is badly formatted, then the check says so under the repository settings', async () => {
    // The check is only as good as the files and options it sees: a real source path is in scope
    // and gets the repository's options, and a mangled copy of that file fails.
    const filePath = path.join(repoRoot, 'packages/protocol/src/routing.ts');
    const info = await prettier.getFileInfo(filePath, { ignorePath: path.join(repoRoot, '.prettierignore') });
    expect(info.ignored).toBe(false);
    const options = { ...(await prettier.resolveConfig(filePath)), filepath: filePath };
    expect(options.singleQuote).toBe(true);
    const text = fs.readFileSync(filePath, 'utf8');
    expect(await prettier.check(text, options)).toBe(true);
    expect(await prettier.check(text.replaceAll("'", '"').replace(/\n/g, '\n\n\n'), options)).toBe(false);
  });
});
