// The cluster's teardown, on its own (the journey checks it again at its end): start the
// one-node cluster, run a pod with a Service in front of it (so the kubelet, the CNI plugins and
// kube-proxy all leave their marks), stop, and compare the host with its state before the start:
// no process, bridge, veth, network namespace, cgroup, iptables/ip6tables rule or chain, nft
// table, sysctl or well-known directory may differ.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { diffHost, snapshotHost, startCluster, stateFile } from '../../harness/src/cluster';
import { delay, repoRoot } from '../../harness/src/processes';
import { processesNaming } from './support';

const say = (line: string) => console.log(`[cluster-cleanup] ${line}`);

describe('the one-node cluster', () => {
  it('starts in bounded time, runs a pod behind a Service, and stops leaving the host as it found it', async () => {
    const before = await snapshotHost();
    const t0 = Date.now();
    const cluster = await startCluster({ progress: say, startTimeoutMs: 600_000 });
    const startSeconds = (Date.now() - t0) / 1000;
    let left: string[] = [];
    let dir = '';
    try {
      dir = cluster.dir;
      say(`started in ${startSeconds.toFixed(1)} s (${JSON.stringify(cluster.timings)})`);
      await cluster.kubectl(['create', 'namespace', 'cleanup']);
      await cluster.kubectl(['label', 'namespace', 'cleanup', 'wbc-test=true']);
      await cluster.kubectl(['apply', '-n', 'cleanup', '-f', '-'], {
        input: `apiVersion: v1
kind: Pod
metadata: {name: dns-check, labels: {app: dns-check}}
spec:
  restartPolicy: Never
  securityContext: {runAsNonRoot: true, runAsUser: 65534, seccompProfile: {type: RuntimeDefault}}
  containers:
    - name: check
      image: localhost/write-batcher-cluster/debian:bookworm
      imagePullPolicy: Never
      # getent through the cluster DNS: the kubernetes Service's name resolves.
      command: ["sh", "-c", "getent hosts kubernetes.default.svc.cluster.local && sleep 3600"]
      securityContext: {allowPrivilegeEscalation: false, capabilities: {drop: [ALL]}}
---
apiVersion: v1
kind: Service
metadata: {name: dns-check}
spec: {selector: {app: dns-check}, ports: [{port: 80}]}
`,
      });
      await cluster.kubectl(['wait', '-n', 'cleanup', '--for=condition=Ready', 'pod/dns-check', '--timeout=120s'], { timeoutMs: 130_000 });
      // Ready means the container runs, not that getent has answered yet: its line is awaited
      // (bounded), then checked.
      let logs = '';
      for (let i = 0; i < 60 && !logs.trim(); i++) {
        logs = await cluster.kubectl(['logs', '-n', 'cleanup', 'dns-check']);
        if (!logs.trim()) await delay(1000);
      }
      expect(logs).toMatch(/^10\.214\.0\.1\s+kubernetes\.default\.svc\.cluster\.local/);
      // The host changed while the cluster ran (the proof that the check below has teeth).
      expect(diffHost(before, await snapshotHost()).length).toBeGreaterThan(0);
      expect(startSeconds).toBeLessThan(600);
    } finally {
      const t1 = Date.now();
      left = await cluster.stop();
      say(`stopped in ${((Date.now() - t1) / 1000).toFixed(1)} s; left: ${left.length ? left.join('; ') : 'nothing'}`);
    }
    expect(left).toEqual([]);
    expect(diffHost(before, await snapshotHost())).toEqual([]);
    expect(fs.existsSync(dir)).toBe(false);
    expect(fs.existsSync(stateFile)).toBe(false);
    expect(processesNaming(dir)).toEqual([]);
  });

  // The class: a run that dies at any moment of its cluster's life (its test process killed, a
  // session stopped mid-suite), leaving processes, a bridge, iptables rules, cgroups behind, in any
  // clone. The next start, from whatever clone, must undo it and start. The kill point is drawn
  // anew each run (the seed is printed), from the first second of the start to well after Ready.
  it('a run killed -9 at a random moment of its start or its life is undone by the next start, and the host ends as before both', async () => {
    const before = await snapshotHost();
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1_000, max: 120_000 }), async (killAfterMs) => {
        say(`killing the starting process ${killAfterMs} ms after it starts`);
        const child = spawn(path.join(repoRoot, 'node_modules/.bin/vite-node'), ['harness/src/cluster/cli.ts', 'up', '--bare'], {
          cwd: repoRoot,
          stdio: ['ignore', 'pipe', 'pipe'],
        });
        let output = '';
        child.stdout.on('data', (d: Buffer) => (output += d.toString()));
        child.stderr.on('data', (d: Buffer) => (output += d.toString()));
        const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
        await Promise.race([delay(killAfterMs), exited]);
        // The process that recorded itself as the cluster's owner (vite-node may run the code in a
        // process of its own), and the one we started; the cluster's own processes are left running.
        const saved = fs.existsSync(stateFile)
          ? (JSON.parse(fs.readFileSync(stateFile, 'utf8')) as { dir: string; owner: { pid: number } })
          : undefined;
        for (const pid of [saved?.owner.pid, child.pid]) {
          try {
            if (pid) process.kill(pid, 'SIGKILL');
          } catch {
            // gone already
          }
        }
        await exited;
        const ready = output.includes('ready: export KUBECONFIG');
        say(
          `killed ${ready ? 'after Ready' : 'during the start'}; state file ${saved ? `names ${saved.dir}` : 'not yet written'}; last line: ${output.trim().split('\n').pop()}`,
        );
        if (saved) expect(processesNaming(saved.dir).length + (fs.existsSync(`/sys/class/net/wbc0`) ? 1 : 0)).toBeGreaterThan(0);

        const lines: string[] = [];
        const cluster = await startCluster({ progress: (l) => (lines.push(l), say(l)), startTimeoutMs: 600_000 });
        let left: string[] = [];
        try {
          if (saved) expect(lines.some((l) => l.startsWith('a run that died') && l.includes(saved.dir))).toBe(true);
          expect(await cluster.kubectl(['get', 'nodes', '-o', 'name'])).toContain('node/');
        } finally {
          left = await cluster.stop();
        }
        expect(left).toEqual([]);
        expect(diffHost(before, await snapshotHost())).toEqual([]);
        expect(fs.existsSync(stateFile)).toBe(false);
        if (saved) {
          expect(fs.existsSync(saved.dir)).toBe(false);
          expect(processesNaming(saved.dir)).toEqual([]);
        }
      }),
      // One kill point per run (each start takes a minute or two; CLUSTER_KILL_ROUNDS=n draws n);
      // no shrinking, which would start one cluster after another. A failure prints the seed and
      // the kill point to replay it.
      { numRuns: Number(process.env.CLUSTER_KILL_ROUNDS ?? 1), endOnFailure: true },
    );
  });
});
