// The cluster's teardown, on its own (the journey checks it again at its end): start the
// one-node cluster, run a pod with a Service in front of it (so the kubelet, the CNI plugins and
// kube-proxy all leave their marks), stop, and compare the host with its state before the start:
// no process, bridge, veth, network namespace, cgroup, iptables/ip6tables rule or chain, nft
// table, sysctl or well-known directory may differ.
import fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import { diffHost, snapshotHost, startCluster, stateFile } from '../../harness/src/cluster';
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
      const logs = await cluster.kubectl(['logs', '-n', 'cleanup', 'dns-check']);
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
});
