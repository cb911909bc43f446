// What a one-node cluster changes on the host, taken before it starts and put back after it stops:
// kernel settings (the kubelet sets vm.overcommit_memory, kernel.panic, kernel.panic_on_oops and
// kernel.keys.*; kube-proxy sets route_localnet and conntrack limits; the harness turns on IP
// forwarding and bridge netfilter for Service traffic), iptables and ip6tables rules and chains
// (KUBE-*, CNI-*), network links (the bridge, veths), network namespaces, top-level cgroups
// (kubepods, k8s.io) and a few well-known directories (/var/log/pods, /var/lib/cni, ...).
// A snapshot is plain JSON, written to disk so that a later `cluster down` can undo a run that died.
import fs from 'node:fs';
import path from 'node:path';
import { run } from './exec';

export const SYSCTLS = [
  'vm.overcommit_memory',
  'vm.panic_on_oom',
  'kernel.panic',
  'kernel.panic_on_oops',
  'kernel.keys.root_maxkeys',
  'kernel.keys.root_maxbytes',
  'net.ipv4.ip_forward',
  'net.ipv4.conf.all.route_localnet',
  'net.bridge.bridge-nf-call-iptables',
  'net.bridge.bridge-nf-call-ip6tables',
  'net.netfilter.nf_conntrack_max',
  'net.netfilter.nf_conntrack_tcp_timeout_established',
  'net.netfilter.nf_conntrack_tcp_timeout_close_wait',
];

/** Host paths the kubelet, containerd, the CNI plugins or dockerd (its plugin directory) create when missing. */
export const WELL_KNOWN_PATHS = [
  '/var/log/pods',
  '/var/log/containers',
  '/var/lib/cni',
  '/run/containerd',
  '/run/netns',
  '/var/run/netns',
  '/var/lib/kubelet',
  '/var/lib/containerd',
  '/etc/cni',
  '/opt/cni',
  '/usr/libexec/kubernetes',
  '/run/docker',
  '/var/lib/docker',
];

export interface HostSnapshot {
  sysctls: Record<string, string | null>;
  /** family (v4|v6) → table → rule and chain lines of iptables-save, counters dropped. */
  iptables: Record<string, Record<string, string[]>>;
  links: string[];
  netns: string[];
  /** hierarchy → its top-level cgroups. */
  cgroups: Record<string, string[]>;
  paths: Record<string, boolean>;
  /** ipset names (kube-router's NetworkPolicy controller makes them); [] without ipset. */
  ipsets: string[];
}

function sysctlFile(name: string): string {
  return path.join('/proc/sys', ...name.split('.'));
}

export function readSysctl(name: string): string | null {
  try {
    return fs.readFileSync(sysctlFile(name), 'utf8').trim();
  } catch {
    return null;
  }
}

export function writeSysctl(name: string, value: string): void {
  fs.writeFileSync(sysctlFile(name), `${value}\n`);
}

const FAMILIES = { v4: 'iptables', v6: 'ip6tables' } as const;

/** iptables-save per table, counters removed (`:CHAIN POLICY [0:0]` → `:CHAIN POLICY`). */
async function iptablesState(): Promise<HostSnapshot['iptables']> {
  const out: HostSnapshot['iptables'] = {};
  for (const [family, tool] of Object.entries(FAMILIES)) {
    const result = await run(`${tool}-save`, [], { allowFailure: true, timeoutMs: 30_000 });
    const tables: Record<string, string[]> = {};
    let table: string[] | undefined;
    for (const line of result.stdout.split('\n')) {
      if (line.startsWith('*')) tables[line.slice(1)] = table = [];
      else if (line.startsWith(':')) table?.push(line.replace(/\s*\[\d+:\d+\]\s*$/, ''));
      else if (line.startsWith('-A')) table?.push(line.replace(/^\[\d+:\d+\]\s*/, ''));
    }
    out[family] = tables;
  }
  return out;
}

function listDir(dir: string): string[] {
  try {
    return fs.readdirSync(dir).sort();
  } catch {
    return [];
  }
}

function cgroupState(): HostSnapshot['cgroups'] {
  const out: HostSnapshot['cgroups'] = {};
  const root = '/sys/fs/cgroup';
  const hierarchies = fs.existsSync(path.join(root, 'cgroup.controllers'))
    ? ['']
    : listDir(root).filter((h) => fs.statSync(path.join(root, h)).isDirectory());
  for (const h of hierarchies) {
    const dir = path.join(root, h);
    out[h] = listDir(dir).filter((e) => {
      try {
        return fs.statSync(path.join(dir, e)).isDirectory();
      } catch {
        return false;
      }
    });
  }
  return out;
}

export async function snapshotHost(): Promise<HostSnapshot> {
  const links = (await run('ip', ['-o', 'link', 'show'], { timeoutMs: 10_000 })).stdout
    .split('\n')
    .map((l) => /^\d+:\s+([^:@]+)/.exec(l)?.[1])
    .filter((n): n is string => !!n)
    .sort();
  return {
    sysctls: Object.fromEntries(SYSCTLS.map((s) => [s, readSysctl(s)])),
    iptables: await iptablesState(),
    links,
    netns: listDir('/run/netns'),
    cgroups: cgroupState(),
    paths: Object.fromEntries(WELL_KNOWN_PATHS.map((p) => [p, fs.existsSync(p)])),
    ipsets: await ipsetNames(),
  };
}

async function ipsetNames(): Promise<string[]> {
  const r = await run('ipset', ['list', '-n'], { allowFailure: true, timeoutMs: 10_000 }).catch(() => undefined);
  return r && r.code === 0 ? r.stdout.split('\n').filter(Boolean).sort() : [];
}

/** Differences between two snapshots, one line each (empty: the host is as it was). */
export function diffHost(before: HostSnapshot, after: HostSnapshot): string[] {
  const out: string[] = [];
  for (const [k, v] of Object.entries(before.sysctls)) if (after.sysctls[k] !== v) out.push(`sysctl ${k}: ${v} → ${after.sysctls[k]}`);
  for (const family of Object.keys(FAMILIES)) {
    const b = before.iptables[family] ?? {};
    const a = after.iptables[family] ?? {};
    for (const table of new Set([...Object.keys(b), ...Object.keys(a)])) {
      const bl = b[table] ?? [];
      const al = a[table] ?? [];
      for (const line of al) if (!bl.includes(line)) out.push(`${family} ${table}: added ${line}`);
      for (const line of bl) if (!al.includes(line)) out.push(`${family} ${table}: removed ${line}`);
    }
  }
  for (const l of after.links) if (!before.links.includes(l)) out.push(`link added: ${l}`);
  for (const n of after.netns) if (!before.netns.includes(n)) out.push(`netns added: ${n}`);
  for (const [h, dirs] of Object.entries(after.cgroups))
    for (const d of dirs) if (!(before.cgroups[h] ?? []).includes(d)) out.push(`cgroup added: ${h}/${d}`);
  for (const [p, existed] of Object.entries(before.paths))
    if (after.paths[p] !== existed) out.push(`path ${p}: ${existed ? 'removed' : 'created'}`);
  for (const n of after.ipsets ?? []) if (!(before.ipsets ?? []).includes(n)) out.push(`ipset added: ${n}`);
  return out;
}

/**
 * Puts the host back as `before` found it: rules and chains added since (IPv4 and IPv6) deleted
 * through iptables-restore --noflush (which parses iptables-save's own quoting), links, network
 * namespaces and top-level cgroups added since removed, well-known paths created since removed,
 * kernel settings restored; only the links `ownLink` accepts are deleted. Rules that were there before are left alone. Returns what it could
 * not undo.
 */
export async function restoreHost(
  before: HostSnapshot,
  ownLink: (name: string) => boolean,
  log?: (line: string) => void,
): Promise<string[]> {
  const problems: string[] = [];
  // Network namespaces first (a veth's peer goes with its namespace), then links.
  const now = await snapshotHost();
  for (const n of now.netns) {
    if (before.netns.includes(n)) continue;
    const r = await run('ip', ['netns', 'delete', n], { allowFailure: true, timeoutMs: 10_000 });
    if (r.code !== 0) {
      await run('umount', ['-l', path.join('/run/netns', n)], { allowFailure: true });
      fs.rmSync(path.join('/run/netns', n), { force: true });
    }
  }
  for (const l of now.links) {
    if (before.links.includes(l) || !ownLink(l)) continue;
    log?.(`deleting link ${l}`);
    await run('ip', ['link', 'delete', l], { allowFailure: true, timeoutMs: 10_000 });
  }
  for (const [family, tool] of Object.entries(FAMILIES)) {
    const b = before.iptables[family] ?? {};
    const a = now.iptables[family] ?? {};
    let input = '';
    for (const [table, lines] of Object.entries(a)) {
      const old = b[table] ?? [];
      const oldChains = new Set(old.filter((l) => l.startsWith(':')).map((l) => l.slice(1).split(' ')[0]));
      const newChains = lines
        .filter((l) => l.startsWith(':'))
        .map((l) => l.slice(1).split(' ')[0]!)
        .filter((c) => !oldChains.has(c));
      // Rules added to chains that existed before (e.g. -A INPUT -j KUBE-FIREWALL): delete them.
      const deletes = lines
        .filter((l) => l.startsWith('-A ') && !old.includes(l) && !newChains.includes(l.split(' ')[1]!))
        .map((l) => `-D${l.slice(2)}`);
      if (!deletes.length && !newChains.length) continue;
      input += `*${table}\n${deletes.join('\n')}${deletes.length ? '\n' : ''}${newChains.map((c) => `-F ${c}`).join('\n')}\n${newChains.map((c) => `-X ${c}`).join('\n')}\nCOMMIT\n`;
    }
    if (input) {
      log?.(`${tool}: removing what the cluster added`);
      const r = await run(`${tool}-restore`, ['--noflush'], { input, allowFailure: true, timeoutMs: 30_000 });
      if (r.code !== 0) problems.push(`${tool}-restore: ${r.stderr.trim()}`);
    }
    // Tables that did not exist before (iptables-nft creates them on first use): now empty, they
    // go too (nft; iptables itself cannot delete a table).
    const emptied = (await iptablesState())[family] ?? {};
    for (const [table, lines] of Object.entries(emptied)) {
      if (b[table] || lines.some((l) => l.startsWith('-A'))) continue;
      const r = await run('nft', ['delete', 'table', family === 'v4' ? 'ip' : 'ip6', table], {
        allowFailure: true,
        timeoutMs: 10_000,
      }).catch((e: Error) => ({ code: 1, stderr: e.message }));
      if (r.code !== 0) problems.push(`nft delete table ${family} ${table}: ${r.stderr.trim()}`);
    }
  }
  // ipsets the rules referred to (deletable now that the rules are gone).
  for (const n of await ipsetNames()) {
    if ((before.ipsets ?? []).includes(n)) continue;
    const r = await run('ipset', ['destroy', n], { allowFailure: true, timeoutMs: 10_000 });
    if (r.code !== 0) problems.push(`ipset destroy ${n}: ${r.stderr.trim()}`);
  }
  // Cgroups: children before parents; a cgroup still holding a process cannot go.
  for (const [h, dirs] of Object.entries(now.cgroups)) {
    for (const d of dirs) {
      if ((before.cgroups[h] ?? []).includes(d)) continue;
      removeCgroupTree(path.join('/sys/fs/cgroup', h, d), problems);
    }
  }
  for (const [p, existed] of Object.entries(before.paths)) {
    if (existed || !fs.existsSync(p)) continue;
    await unmountBelow(p);
    try {
      fs.rmSync(p, { recursive: true, force: true });
    } catch (err) {
      problems.push(`${p}: ${(err as Error).message}`);
    }
  }
  for (const [k, v] of Object.entries(before.sysctls)) {
    if (v === null || readSysctl(k) === v) continue;
    try {
      writeSysctl(k, v);
    } catch (err) {
      problems.push(`sysctl ${k}=${v}: ${(err as Error).message}`);
    }
  }
  return problems;
}

/**
 * Every process still in a cgroup made since `before` (kubepods: a container whose shim is gone, as
 * after a run killed with its pods running), SIGKILLed by PID; resolves once they are gone (bounded).
 * Those cgroups are the cluster's, so their processes are too.
 */
export async function killProcessesInNewCgroups(before: HostSnapshot): Promise<number[]> {
  const pids = new Set<number>();
  const collect = (dir: string) => {
    let entries: fs.Dirent[] = [];
    try {
      entries = fs.readdirSync(dir, { withFileTypes: true });
      for (const l of fs.readFileSync(path.join(dir, 'cgroup.procs'), 'utf8').split('\n')) if (/^\d+$/.test(l)) pids.add(Number(l));
    } catch {
      return;
    }
    for (const e of entries) if (e.isDirectory()) collect(path.join(dir, e.name));
  };
  for (const [h, dirs] of Object.entries((await snapshotHost()).cgroups))
    for (const d of dirs) if (!(before.cgroups[h] ?? []).includes(d)) collect(path.join('/sys/fs/cgroup', h, d));
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone already
    }
  }
  for (let i = 0; i < 100 && [...pids].some((p) => fs.existsSync(`/proc/${p}`)); i++) await new Promise((r) => setTimeout(r, 100));
  return [...pids];
}

function removeCgroupTree(dir: string, problems: string[]): void {
  let entries: fs.Dirent[] = [];
  try {
    entries = fs.readdirSync(dir, { withFileTypes: true });
  } catch {
    return;
  }
  for (const e of entries) if (e.isDirectory()) removeCgroupTree(path.join(dir, e.name), problems);
  try {
    fs.rmdirSync(dir);
  } catch (err) {
    problems.push(`cgroup ${dir}: ${(err as Error).message}`);
  }
}

/** Unmounts every mount point at or below `dir`, deepest first (lazily if busy). */
export async function unmountBelow(dir: string): Promise<void> {
  const prefix = dir.endsWith('/') ? dir : `${dir}/`;
  const points = fs
    .readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((l) => l.split(' ')[4])
    .filter((p): p is string => !!p)
    .map((p) => p.replace(/\\040/g, ' '))
    .filter((p) => p === dir || p.startsWith(prefix))
    .sort((a, b) => b.length - a.length);
  for (const p of points) {
    const r = await run('umount', [p], { allowFailure: true, timeoutMs: 15_000 });
    if (r.code !== 0) await run('umount', ['-l', p], { allowFailure: true, timeoutMs: 15_000 });
  }
}
