// A build context filtered by .dockerignore, the way Docker's builder reads it: patterns in
// order, `!` re-includes, the last pattern that matches a path (or one of its parent directories)
// decides. buildah 1.28 mishandles an allow-list (`*` then `!packages/*/src/`: "no items matching
// glob ... filtered out using .dockerignore"), so the harness copies the allowed files into a
// directory of their own and builds from that with an empty ignore file.
import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

interface Rule {
  negate: boolean;
  regex: RegExp;
  /** Segments of the pattern, for "could anything under this directory be re-included?". */
  segments: string[];
}

function segmentRegex(segment: string): string {
  let out = '';
  for (let i = 0; i < segment.length; i++) {
    const ch = segment[i]!;
    if (ch === '*') out += '[^/]*';
    else if (ch === '?') out += '[^/]';
    else if (ch === '\\' && i + 1 < segment.length) out += `\\${segment[++i]}`;
    else out += ch.replace(/[.+^${}()|[\]\\]/g, '\\$&');
  }
  return out;
}

export function parseDockerignore(text: string): Rule[] {
  const rules: Rule[] = [];
  for (let line of text.split('\n')) {
    line = line.trim();
    if (!line || line.startsWith('#')) continue;
    const negate = line.startsWith('!');
    if (negate) line = line.slice(1).trim();
    const pattern = path.posix.normalize(line).replace(/^\/+/, '').replace(/\/+$/, '');
    const segments = pattern.split('/');
    const regex = new RegExp(
      `^${segments
        .map((s) => (s === '**' ? '(?:.*)' : segmentRegex(s)))
        .join('/')
        .replace(/\(\?:\.\*\)\//g, '(?:.*/)?')}$`,
    );
    rules.push({ negate, regex, segments });
  }
  return rules;
}

/** Whether a path (relative, POSIX) is excluded: the last rule matching it or a parent decides. */
export function isExcluded(rules: readonly Rule[], rel: string): boolean {
  const parents: string[] = [];
  const parts = rel.split('/');
  for (let i = 1; i <= parts.length; i++) parents.push(parts.slice(0, i).join('/'));
  let excluded = false;
  for (const rule of rules) {
    if (parents.some((p) => rule.regex.test(p))) excluded = !rule.negate;
  }
  return excluded;
}

/** Could a `!` rule re-include something below this (excluded) directory? */
function mayReinclude(rules: readonly Rule[], dir: string): boolean {
  const parts = dir.split('/');
  return rules.some((r) => {
    if (!r.negate) return false;
    for (let i = 0; i < parts.length; i++) {
      const seg = r.segments[i];
      if (seg === undefined) return true;
      if (seg === '**') return true;
      if (!new RegExp(`^${segmentRegex(seg)}$`).test(parts[i]!)) return false;
    }
    return true;
  });
}

function walk(root: string, rules: readonly Rule[], rel = '', out: string[] = []): string[] {
  for (const entry of fs.readdirSync(path.join(root, rel), { withFileTypes: true })) {
    const child = rel ? `${rel}/${entry.name}` : entry.name;
    if (entry.isDirectory()) {
      if (entry.name === '.git') continue;
      if (isExcluded(rules, child) && !mayReinclude(rules, child)) continue;
      walk(root, rules, child, out);
    } else if ((entry.isFile() || entry.isSymbolicLink()) && !isExcluded(rules, child)) {
      out.push(child);
    }
  }
  return out;
}

/**
 * Copies the files .dockerignore lets through into `dest`, from the working tree (`worktree`) or
 * from a git revision. Returns their count and a digest of their names and contents.
 */
export async function filterContext(repo: string, dest: string, source: string): Promise<{ files: number; digest: string }> {
  const ignoreFile = path.join(repo, '.dockerignore');
  const rules = fs.existsSync(ignoreFile) ? parseDockerignore(fs.readFileSync(ignoreFile, 'utf8')) : [];
  fs.mkdirSync(dest, { recursive: true });
  let files: string[];
  if (source === 'worktree') {
    files = walk(repo, rules).sort();
    for (const f of files) {
      fs.mkdirSync(path.dirname(path.join(dest, f)), { recursive: true });
      fs.copyFileSync(path.join(repo, f), path.join(dest, f));
    }
  } else {
    const all = execFileSync('git', ['ls-tree', '-r', '--name-only', '-z', source], { cwd: repo, maxBuffer: 64 * 1024 * 1024 })
      .toString('utf8')
      .split('\0')
      .filter(Boolean);
    files = all.filter((f) => !isExcluded(rules, f)).sort();
    const tar = execFileSync('git', ['archive', '--format=tar', source, '--', ...files], { cwd: repo, maxBuffer: 512 * 1024 * 1024 });
    execFileSync('tar', ['-x', '-C', dest], { input: tar });
  }
  const h = crypto.createHash('sha256');
  for (const f of files)
    h.update(f)
      .update('\0')
      .update(fs.readFileSync(path.join(dest, f)))
      .update('\0');
  return { files: files.length, digest: h.digest('hex').slice(0, 16) };
}
