// A one-node Kubernetes cluster with real pods, on this machine, every process started and stopped
// by PID: containerd (+ runc, the bridge/host-local/portmap CNI plugins), etcd, kube-apiserver,
// kube-controller-manager, kube-scheduler, kubelet, kube-proxy (iptables mode) and CoreDNS as a
// pod. Everything lives in one directory of its own (PKI, etcd data, containerd root and state,
// kubelet root, logs) and a bridge of its own; the host's state is snapshotted first and put back
// at stop (harness/src/cluster/host-state.ts), and stop() reports anything it could not undo.
// Needs root (containerd, the kubelet and iptables do), cgroups and overlayfs; built by
// `scripts/install-tools.sh cluster`.
import fs from 'node:fs';
import https from 'node:https';
import path from 'node:path';
import { makeCa, makeCert, makeKeyPair } from '../pki';
import { delay, freePort, processStartTime, resolveTool, spawnLogged, stopPid, waitUntil, type ManagedProcess } from '../processes';
import { run, type RunOptions } from './exec';
import { diffHost, killProcessesInNewCgroups, restoreHost, snapshotHost, unmountBelow, writeSysctl, type HostSnapshot } from './host-state';
import { importImages, IMAGE_NAMES, stackImages, type BuiltImage } from './images';

export const BRIDGE = 'wbc0';
export const NODE_NAME = 'wbc-node';
export const POD_SUBNET = '10.213.0.0/24';
export const NODE_IP = '10.213.0.1';
export const SERVICE_SUBNET = '10.214.0.0/24';
export const DNS_IP = '10.214.0.10';
const TOKEN = 'write-batcher-cluster-admin';

/**
 * Where a running cluster writes what is needed to undo it after its run died (the run's own PID,
 * the processes it started, the host as it was). On the host, not in the checkout: the bridge, the
 * iptables rules and the cgroups a dead run leaves are the host's, whichever clone started them, and
 * the next run of any clone must find them (tmpfs: a reboot clears both).
 */
export const stateFile = '/run/write-batcher-cluster.json';

export interface ClusterOptions {
  /** @default 300000 */
  startTimeoutMs?: number;
  progress?: (line: string) => void;
  /** Extra images to import (the project's). */
  images?: readonly BuiltImage[];
  /**
   * Run metrics-server (metrics.k8s.io through the aggregation layer), so that an HPA scales on
   * CPU and `kubectl top` works.
   * @default false
   */
  metricsServer?: boolean;
  /**
   * Enforce NetworkPolicies with kube-router's firewall controller (alone: no routing, no
   * service proxy), a host process like kube-proxy. The bridge CNI plugin enforces none.
   * @default false
   */
  networkPolicies?: boolean;
}

export interface Cluster {
  readonly dir: string;
  readonly kubeconfig: string;
  /** KUBECONFIG and Helm's homes, for kubectl and helm run by hand or by tests. */
  readonly env: Record<string, string>;
  readonly apiServer: string;
  readonly containerdAddress: string;
  /** Seconds from the first process to CoreDNS Ready, per phase. */
  readonly timings: Record<string, number>;
  readonly logFiles: Record<string, string>;
  readonly before: HostSnapshot;
  kubectl(args: readonly string[], options?: RunOptions): Promise<string>;
  getJson<T = unknown>(args: readonly string[]): Promise<T>;
  helm(args: readonly string[], options?: RunOptions): Promise<string>;
  ctr(args: readonly string[], options?: RunOptions): Promise<string>;
  importImages(images: readonly BuiltImage[]): Promise<void>;
  /** Lets the node's containerd pull from a plain-HTTP registry at host:port (this one only). */
  trustRegistry(address: string): void;
  /** Stops everything, puts the host back; resolves with what still differs from before (empty: nothing). */
  stop(): Promise<string[]>;
}

interface SavedState {
  dir: string;
  before: HostSnapshot;
  pids: number[];
  /** The process that started the cluster: while it lives, the cluster is in use. */
  owner?: { pid: number; startTime: string };
}

function writePki(dir: string): void {
  makeCa(dir, 'ca', 'write-batcher-cluster-ca');
  makeCert(
    dir,
    'apiserver',
    'ca',
    `subjectAltName=DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local,IP:127.0.0.1,IP:${NODE_IP},IP:10.214.0.1\nextendedKeyUsage=serverAuth`,
    'kube-apiserver',
  );
  makeKeyPair(dir, 'sa');
  // The aggregation layer (metrics.k8s.io, served by metrics-server): the apiserver's client
  // certificate towards extension servers, and the CA they check it against.
  makeCa(dir, 'front-proxy-ca');
  makeCert(dir, 'front-proxy-client', 'front-proxy-ca', 'extendedKeyUsage=clientAuth');
  fs.writeFileSync(path.join(dir, 'tokens.csv'), `${TOKEN},admin,admin-uid,system:masters\n`);
}

function httpsStatus(url: string, ca: Buffer): Promise<number> {
  // node's fetch has no per-request CA; https.get does.
  return new Promise((resolve, reject) => {
    const req = https.get(url, { ca, headers: { Authorization: `Bearer ${TOKEN}` }, timeout: 5000 }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('timeout', () => req.destroy(new Error('timed out')));
    req.on('error', reject);
  });
}

function containerdConfig(dir: string): string {
  return `version = 2
root = "${dir}/containerd/root"
state = "${dir}/containerd/state"
[grpc]
  address = "${dir}/containerd/containerd.sock"
[ttrpc]
  address = "${dir}/containerd/containerd.sock.ttrpc"
[debug]
  level = "warn"
[metrics]
  address = ""
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "${IMAGE_NAMES.pause}"
  disable_apparmor = true
  # Root here cannot lower oom_score_adj (no CAP_SYS_RESOURCE): without this every sandbox fails
  # with "can't get final child's PID from pipe: EOF".
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
        BinaryName = "${resolveTool('runc')}"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "${cniBinDir()}"
    conf_dir = "${dir}/cni/conf"
  # Registry hosts (hosts.toml per registry, read at each pull): the suite's local registries,
  # plain HTTP, each named there (Cluster.trustRegistry); every other registry as by default.
  [plugins."io.containerd.grpc.v1.cri".registry]
    config_path = "${dir}/containerd/certs.d"
`;
}

function cniBinDir(): string {
  for (const d of ['/usr/lib/cni', '/opt/cni/bin']) if (fs.existsSync(path.join(d, 'bridge'))) return d;
  throw new Error('CNI plugins not found in /usr/lib/cni or /opt/cni/bin: run scripts/install-tools.sh cluster');
}

function cniConfig(dir: string): string {
  return JSON.stringify(
    {
      cniVersion: '0.4.0',
      name: 'write-batcher-cluster',
      plugins: [
        {
          type: 'bridge',
          bridge: BRIDGE,
          isGateway: true,
          // No masquerade: pod traffic never leaves the bridge and the host.
          ipMasq: false,
          hairpinMode: true,
          ipam: {
            type: 'host-local',
            dataDir: `${dir}/cni/ipam`,
            ranges: [[{ subnet: POD_SUBNET, gateway: NODE_IP }]],
            routes: [{ dst: '0.0.0.0/0' }],
          },
        },
        { type: 'portmap', capabilities: { portMappings: true } },
      ],
    },
    null,
    2,
  );
}

function kubeletConfig(dir: string): string {
  return `apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: ${NODE_IP}
port: 10250
healthzBindAddress: 127.0.0.1
healthzPort: 0
readOnlyPort: 0
cgroupDriver: cgroupfs
failCgroupV1: false
failSwapOn: false
containerRuntimeEndpoint: unix://${dir}/containerd/containerd.sock
podLogsDir: ${dir}/pod-logs
volumePluginDir: ${dir}/kubelet-plugins
authentication:
  anonymous: {enabled: true}
  webhook: {enabled: false}
authorization: {mode: AlwaysAllow}
clusterDNS: [${DNS_IP}]
clusterDomain: cluster.local
resolvConf: /etc/resolv.conf
serializeImagePulls: false
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
evictionHard: {memory.available: "200Mi", nodefs.available: "1%", imagefs.available: "1%", nodefs.inodesFree: "1%"}
maxPods: 60
syncFrequency: 10s
fileCheckFrequency: 10s
nodeStatusUpdateFrequency: 5s
`;
}

/**
 * metrics-server as upstream deploys it (its RBAC, Service, APIService), trimmed to this node: the
 * kubelet's serving certificate is self-signed, so it is not verified (`--kubelet-insecure-tls`,
 * as on kind), and the apiserver does not verify metrics-server's (`insecureSkipTLSVerify`).
 */
const METRICS_SERVER_MANIFEST = `apiVersion: v1
kind: ServiceAccount
metadata: {name: metrics-server, namespace: kube-system}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: "system:metrics-server"}
rules:
  - apiGroups: [""]
    resources: [nodes/metrics]
    verbs: [get]
  - apiGroups: [""]
    resources: [pods, nodes]
    verbs: [get, list, watch]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: "system:metrics-server"}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: "system:metrics-server"}
subjects: [{kind: ServiceAccount, name: metrics-server, namespace: kube-system}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: "metrics-server:system:auth-delegator"}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: "system:auth-delegator"}
subjects: [{kind: ServiceAccount, name: metrics-server, namespace: kube-system}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: metrics-server-auth-reader, namespace: kube-system}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: extension-apiserver-authentication-reader}
subjects: [{kind: ServiceAccount, name: metrics-server, namespace: kube-system}]
---
apiVersion: v1
kind: Service
metadata: {name: metrics-server, namespace: kube-system, labels: {k8s-app: metrics-server}}
spec:
  selector: {k8s-app: metrics-server}
  ports: [{name: https, port: 443, targetPort: https, protocol: TCP}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: metrics-server, namespace: kube-system, labels: {k8s-app: metrics-server}}
spec:
  replicas: 1
  selector: {matchLabels: {k8s-app: metrics-server}}
  template:
    metadata: {labels: {k8s-app: metrics-server}}
    spec:
      serviceAccountName: metrics-server
      securityContext: {runAsNonRoot: true, runAsUser: 1000, seccompProfile: {type: RuntimeDefault}}
      containers:
        - name: metrics-server
          image: ${IMAGE_NAMES.metricsServer}
          imagePullPolicy: Never
          args: [--cert-dir=/tmp, --secure-port=10250, --kubelet-preferred-address-types=InternalIP, --kubelet-use-node-status-port, --kubelet-insecure-tls, --metric-resolution=15s]
          ports: [{name: https, containerPort: 10250, protocol: TCP}]
          readinessProbe:
            httpGet: {path: /readyz, port: https, scheme: HTTPS}
            periodSeconds: 5
          resources: {requests: {cpu: 50m, memory: 100Mi}}
          securityContext: {allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: {drop: [ALL]}}
          volumeMounts: [{name: tmp, mountPath: /tmp}]
      volumes: [{name: tmp, emptyDir: {}}]
---
apiVersion: apiregistration.k8s.io/v1
kind: APIService
metadata: {name: v1beta1.metrics.k8s.io}
spec:
  service: {name: metrics-server, namespace: kube-system}
  group: metrics.k8s.io
  version: v1beta1
  insecureSkipTLSVerify: true
  groupPriorityMinimum: 100
  versionPriority: 100
`;

function kubeProxyConfig(dir: string, ports: { healthz: number; metrics: number }): string {
  return `apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
clientConnection:
  kubeconfig: ${dir}/kubeconfig
mode: iptables
clusterCIDR: ${POD_SUBNET}
hostnameOverride: ${NODE_NAME}
bindAddress: 127.0.0.1
healthzBindAddress: 127.0.0.1:${ports.healthz}
metricsBindAddress: 127.0.0.1:${ports.metrics}
nodePortAddresses: ["${POD_SUBNET}"]
conntrack:
  maxPerCore: 0
  tcpEstablishedTimeout: 0s
  tcpCloseWaitTimeout: 0s
iptables:
  masqueradeAll: false
  syncPeriod: 5s
  minSyncPeriod: 0s
`;
}

const COREDNS_MANIFEST = `apiVersion: v1
kind: ServiceAccount
metadata: {name: coredns, namespace: kube-system}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: "system:coredns"}
rules:
  - apiGroups: [""]
    resources: [endpoints, services, pods, namespaces]
    verbs: [list, watch]
  - apiGroups: [discovery.k8s.io]
    resources: [endpointslices]
    verbs: [list, watch]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: "system:coredns"}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: "system:coredns"}
subjects: [{kind: ServiceAccount, name: coredns, namespace: kube-system}]
---
apiVersion: v1
kind: ConfigMap
metadata: {name: coredns, namespace: kube-system}
data:
  Corefile: |
    .:1053 {
        errors
        health :8080
        ready :8181
        kubernetes cluster.local in-addr.arpa ip6.arpa {
            pods insecure
            fallthrough in-addr.arpa ip6.arpa
        }
        cache 5
        reload
    }
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: coredns, namespace: kube-system, labels: {k8s-app: kube-dns}}
spec:
  replicas: 1
  selector: {matchLabels: {k8s-app: kube-dns}}
  template:
    metadata: {labels: {k8s-app: kube-dns}}
    spec:
      serviceAccountName: coredns
      dnsPolicy: Default
      securityContext: {runAsNonRoot: true, runAsUser: 65534, runAsGroup: 65534, seccompProfile: {type: RuntimeDefault}}
      containers:
        - name: coredns
          image: ${IMAGE_NAMES.coredns}
          imagePullPolicy: Never
          args: ["-conf", "/etc/coredns/Corefile"]
          ports:
            - {name: dns, containerPort: 1053, protocol: UDP}
            - {name: dns-tcp, containerPort: 1053, protocol: TCP}
          readinessProbe: {httpGet: {path: /ready, port: 8181}, periodSeconds: 2}
          livenessProbe: {httpGet: {path: /health, port: 8080}, periodSeconds: 10}
          securityContext: {allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: {drop: [ALL]}}
          volumeMounts: [{name: config, mountPath: /etc/coredns, readOnly: true}]
      volumes: [{name: config, configMap: {name: coredns}}]
---
apiVersion: v1
kind: Service
metadata: {name: kube-dns, namespace: kube-system, labels: {k8s-app: kube-dns}}
spec:
  selector: {k8s-app: kube-dns}
  clusterIP: ${DNS_IP}
  ports:
    - {name: dns, port: 53, targetPort: 1053, protocol: UDP}
    - {name: dns-tcp, port: 53, targetPort: 1053, protocol: TCP}
`;

/** Starts the cluster; resolves once the node is Ready and CoreDNS answers. */
export async function startCluster(options: ClusterOptions = {}): Promise<Cluster> {
  if (process.getuid?.() !== 0) throw new Error('the cluster needs root (containerd, kubelet, iptables)');
  const progress = options.progress ?? (() => undefined);
  const timeoutMs = options.startTimeoutMs ?? 300_000;
  const t0 = Date.now();
  const timings: Record<string, number> = {};
  const mark = (phase: string) => {
    timings[phase] = Math.round((Date.now() - t0) / 100) / 10;
    progress(`${phase} at ${timings[phase]} s`);
  };
  await undoDeadRun(progress);
  if (fs.existsSync(`/sys/class/net/${BRIDGE}`))
    throw new Error(
      `bridge ${BRIDGE} exists but ${stateFile} does not: made by hand or by a run older than the state file; ` +
        `delete it (ip link delete ${BRIDGE}) once nothing uses it`,
    );

  const bins = Object.fromEntries(
    [
      ...[
        'etcd',
        'kube-apiserver',
        'kube-controller-manager',
        'kube-scheduler',
        'kubelet',
        'kube-proxy',
        'kubectl',
        'helm',
        'containerd',
        'ctr',
        'runc',
      ],
      ...(options.networkPolicies ? ['kube-router', 'ipset'] : []),
    ].map((b) => [b, resolveTool(b)]),
  );
  const before = await snapshotHost();
  // Short: unix socket paths must stay under 108 bytes.
  const dir = fs.mkdtempSync('/tmp/wbc-');
  const processes: ManagedProcess[] = [];
  const owner = { pid: process.pid, startTime: processStartTime(process.pid) ?? '' };
  const saveState = () =>
    fs.writeFileSync(stateFile, JSON.stringify({ dir, before, pids: processes.map((p) => p.pid), owner } satisfies SavedState));
  saveState();
  const logDir = path.join(dir, 'logs');
  fs.mkdirSync(logDir, { recursive: true });
  const logFiles: Record<string, string> = {};
  const start = (name: string, args: string[], env?: NodeJS.ProcessEnv) => {
    const p = spawnLogged({ name, command: bins[name]!, args, logFile: path.join(logDir, `${name}.log`), env });
    processes.push(p);
    logFiles[name] = p.logFile;
    saveState();
    return p;
  };
  const alive = (p: ManagedProcess) => {
    if (p.hasExited()) throw new Error(`${p.name} exited; log ${p.logFile}:\n${p.logTail(40)}`);
  };
  const kubeconfig = path.join(dir, 'kubeconfig');
  const env = {
    KUBECONFIG: kubeconfig,
    KUBECACHEDIR: path.join(dir, 'kube-cache'),
    HELM_CACHE_HOME: path.join(dir, 'helm/cache'),
    HELM_CONFIG_HOME: path.join(dir, 'helm/config'),
    HELM_DATA_HOME: path.join(dir, 'helm/data'),
  };
  const ctrAddress = path.join(dir, 'containerd', 'containerd.sock');
  const cmdLog = path.join(logDir, 'commands.log');
  const kubectl = async (args: readonly string[], o: RunOptions = {}) =>
    (await run(bins.kubectl!, args, { timeoutMs: 120_000, logFile: cmdLog, ...o, env: { ...env, ...o.env } })).stdout;
  const helm = async (args: readonly string[], o: RunOptions = {}) =>
    (await run(bins.helm!, args, { timeoutMs: 600_000, logFile: cmdLog, ...o, env: { ...env, ...o.env } })).stdout;
  const ctr = async (args: readonly string[], o: RunOptions = {}) =>
    (await run(bins.ctr!, ['--address', ctrAddress, '-n', 'k8s.io', ...args], { timeoutMs: 120_000, logFile: cmdLog, ...o })).stdout;

  let stopped: Promise<string[]> | undefined;
  const stop = () => (stopped ??= stopCluster({ dir, before, processes, kubectl, ctr, progress }));
  try {
    // The bridge first: the API server listens on its address, which pods reach through the
    // kubernetes Service; the CNI bridge plugin adopts it.
    await run('ip', ['link', 'add', BRIDGE, 'type', 'bridge']);
    await run('ip', ['addr', 'add', `${NODE_IP}/24`, 'dev', BRIDGE]);
    await run('ip', ['link', 'set', BRIDGE, 'up']);
    // Service traffic between pods on the bridge: forwarded and seen by iptables (DNAT replies).
    writeSysctl('net.ipv4.ip_forward', '1');
    writeSysctl('net.bridge.bridge-nf-call-iptables', '1');

    const pki = path.join(dir, 'pki');
    writePki(pki);
    const ca = fs.readFileSync(path.join(pki, 'ca.crt'));
    const [etcdPort, etcdPeerPort, apiPort, kcmPort, schedPort] = [
      await freePort(),
      await freePort(),
      await freePort(),
      await freePort(),
      await freePort(),
    ];
    const apiServer = `https://${NODE_IP}:${apiPort}`;
    fs.writeFileSync(
      kubeconfig,
      `apiVersion: v1
kind: Config
clusters: [{name: wbc, cluster: {server: "${apiServer}", certificate-authority: "${path.join(pki, 'ca.crt')}"}}]
users: [{name: admin, user: {token: ${TOKEN}}}]
contexts: [{name: wbc, context: {cluster: wbc, user: admin}}]
current-context: wbc
`,
      { mode: 0o600 },
    );

    const etcd = start('etcd', [
      '--name=wbc',
      `--data-dir=${path.join(dir, 'etcd')}`,
      `--listen-client-urls=http://127.0.0.1:${etcdPort}`,
      `--advertise-client-urls=http://127.0.0.1:${etcdPort}`,
      `--listen-peer-urls=http://127.0.0.1:${etcdPeerPort}`,
      `--initial-advertise-peer-urls=http://127.0.0.1:${etcdPeerPort}`,
      `--initial-cluster=wbc=http://127.0.0.1:${etcdPeerPort}`,
      '--quota-backend-bytes=2147483648',
      '--log-level=warn',
      // Small machines: fewer fsyncs matter less than latency of the whole cluster.
      '--unsafe-no-fsync',
    ]);
    const containerdDir = path.join(dir, 'containerd');
    fs.mkdirSync(path.join(dir, 'cni', 'conf'), { recursive: true });
    fs.writeFileSync(path.join(dir, 'cni', 'conf', '10-wbc.conflist'), cniConfig(dir));
    fs.mkdirSync(containerdDir, { recursive: true });
    fs.writeFileSync(path.join(containerdDir, 'config.toml'), containerdConfig(dir));
    fs.mkdirSync(path.join(containerdDir, 'certs.d'), { recursive: true });
    const containerd = start('containerd', ['--config', path.join(containerdDir, 'config.toml')]);

    await waitUntil(
      `etcd (log ${etcd.logFile})`,
      async () => {
        alive(etcd);
        return (await fetch(`http://127.0.0.1:${etcdPort}/health`, { signal: AbortSignal.timeout(3000) })).ok;
      },
      { timeoutMs },
    );
    mark('etcd');
    const apiserver = start('kube-apiserver', [
      `--etcd-servers=http://127.0.0.1:${etcdPort}`,
      `--bind-address=${NODE_IP}`,
      `--advertise-address=${NODE_IP}`,
      `--secure-port=${apiPort}`,
      `--tls-cert-file=${path.join(pki, 'apiserver.crt')}`,
      `--tls-private-key-file=${path.join(pki, 'apiserver.key')}`,
      `--client-ca-file=${path.join(pki, 'ca.crt')}`,
      '--service-account-issuer=https://kubernetes.default.svc',
      `--service-account-key-file=${path.join(pki, 'sa.pub')}`,
      `--service-account-signing-key-file=${path.join(pki, 'sa.key')}`,
      `--token-auth-file=${path.join(pki, 'tokens.csv')}`,
      '--authorization-mode=Node,RBAC',
      '--anonymous-auth=false',
      `--service-cluster-ip-range=${SERVICE_SUBNET}`,
      '--enable-admission-plugins=NamespaceLifecycle,LimitRanger,ServiceAccount,PodSecurity,ResourceQuota,DefaultStorageClass,MutatingAdmissionWebhook,ValidatingAdmissionWebhook,ValidatingAdmissionPolicy',
      `--cert-dir=${path.join(dir, 'apiserver-certs')}`,
      '--kubelet-preferred-address-types=InternalIP',
      // The aggregation layer, for metrics-server's metrics.k8s.io (the HPA's CPU figures); the
      // apiserver dials the extension server's pod directly (it is a host process on the bridge).
      `--requestheader-client-ca-file=${path.join(pki, 'front-proxy-ca.crt')}`,
      '--requestheader-allowed-names=front-proxy-client',
      '--requestheader-username-headers=X-Remote-User',
      '--requestheader-group-headers=X-Remote-Group',
      '--requestheader-extra-headers-prefix=X-Remote-Extra-',
      `--proxy-client-cert-file=${path.join(pki, 'front-proxy-client.crt')}`,
      `--proxy-client-key-file=${path.join(pki, 'front-proxy-client.key')}`,
      '--enable-aggregator-routing=true',
    ]);
    await waitUntil(
      `kube-apiserver ${apiServer}/readyz (log ${apiserver.logFile})`,
      async () => {
        alive(apiserver);
        return (await httpsStatus(`${apiServer}/readyz`, ca)) === 200;
      },
      { timeoutMs, intervalMs: 500 },
    );
    mark('kube-apiserver');
    const kcm = start('kube-controller-manager', [
      `--kubeconfig=${kubeconfig}`,
      `--authentication-kubeconfig=${kubeconfig}`,
      `--authorization-kubeconfig=${kubeconfig}`,
      '--bind-address=127.0.0.1',
      `--secure-port=${kcmPort}`,
      '--leader-elect=false',
      `--service-account-private-key-file=${path.join(pki, 'sa.key')}`,
      `--root-ca-file=${path.join(pki, 'ca.crt')}`,
      '--use-service-account-credentials=false',
      `--service-cluster-ip-range=${SERVICE_SUBNET}`,
      // The node's podCIDR is the bridge's subnet (kube-router reads it).
      '--allocate-node-cidrs=true',
      `--cluster-cidr=${POD_SUBNET}`,
      '--node-cidr-mask-size=24',
      `--cert-dir=${path.join(dir, 'kcm-certs')}`,
      // The HPA reads CPU from metrics-server (options.metricsServer); a short period for the tests.
      '--horizontal-pod-autoscaler-sync-period=5s',
    ]);
    const scheduler = start('kube-scheduler', [
      `--kubeconfig=${kubeconfig}`,
      `--authentication-kubeconfig=${kubeconfig}`,
      `--authorization-kubeconfig=${kubeconfig}`,
      '--bind-address=127.0.0.1',
      `--secure-port=${schedPort}`,
      '--leader-elect=false',
    ]);
    await waitUntil(
      `containerd socket (log ${containerd.logFile})`,
      async () => {
        alive(containerd);
        return (await run(bins.ctr!, ['--address', ctrAddress, 'version'], { allowFailure: true, timeoutMs: 5000 })).code === 0;
      },
      { timeoutMs },
    );
    mark('containerd');
    progress('building (or taking from the cache) the stack images');
    const images = [...(await stackImages({ logFile: path.join(logDir, 'images.log'), progress })), ...(options.images ?? [])];
    mark('images built');
    await importImages(ctrAddress, images, path.join(logDir, 'images.log'));
    mark('images imported');

    fs.mkdirSync(path.join(dir, 'kubelet'), { recursive: true });
    fs.writeFileSync(path.join(dir, 'kubelet-config.yaml'), kubeletConfig(dir));
    const kubelet = start('kubelet', [
      `--config=${path.join(dir, 'kubelet-config.yaml')}`,
      `--kubeconfig=${kubeconfig}`,
      `--root-dir=${path.join(dir, 'kubelet')}`,
      `--cert-dir=${path.join(dir, 'kubelet', 'pki')}`,
      `--hostname-override=${NODE_NAME}`,
      `--node-ip=${NODE_IP}`,
      `--pod-infra-container-image=${IMAGE_NAMES.pause}`,
      '--v=1',
    ]);
    fs.writeFileSync(
      path.join(dir, 'kube-proxy-config.yaml'),
      kubeProxyConfig(dir, { healthz: await freePort(), metrics: await freePort() }),
    );
    const proxy = start('kube-proxy', [`--config=${path.join(dir, 'kube-proxy-config.yaml')}`]);
    await waitUntil(
      `node ${NODE_NAME} Ready (log ${kubelet.logFile})`,
      async () => {
        alive(kubelet);
        alive(proxy);
        alive(kcm);
        alive(scheduler);
        const out = await kubectl(['get', 'node', NODE_NAME, '-o', 'jsonpath={.status.conditions[?(@.type=="Ready")].status}'], {
          allowFailure: true,
        });
        return out.trim() === 'True';
      },
      { timeoutMs, intervalMs: 1000 },
    );
    mark('node Ready');
    if (options.networkPolicies) {
      const router = start('kube-router', [
        `--kubeconfig=${kubeconfig}`,
        `--hostname-override=${NODE_NAME}`,
        '--run-firewall=true',
        '--run-router=false',
        '--run-service-proxy=false',
        '--enable-cni=false',
        '--enable-ipv6=false',
        `--health-port=${await freePort()}`,
        '--metrics-port=0',
        '--v=1',
      ]);
      await waitUntil(
        `kube-router's policy chains (log ${router.logFile})`,
        async () => {
          alive(router);
          return (await run('iptables-save', ['-t', 'filter'], { timeoutMs: 10_000 })).stdout.includes('KUBE-ROUTER-FORWARD');
        },
        { timeoutMs: 120_000, intervalMs: 1000 },
      );
      mark('kube-router (NetworkPolicies)');
    }
    await waitUntil(
      'ServiceAccount default',
      async () => (await kubectl(['get', 'serviceaccount', 'default', '-o', 'name'], { allowFailure: true })).trim() !== '',
      { timeoutMs: 60_000, intervalMs: 500 },
    );
    await kubectl(['apply', '-f', '-'], { input: COREDNS_MANIFEST });
    await kubectl(['-n', 'kube-system', 'rollout', 'status', 'deployment/coredns', `--timeout=${Math.round(timeoutMs / 1000)}s`], {
      timeoutMs: timeoutMs + 10_000,
    });
    mark('CoreDNS Ready');
    if (options.metricsServer) {
      await kubectl(['apply', '-f', '-'], { input: METRICS_SERVER_MANIFEST });
      await kubectl(['-n', 'kube-system', 'rollout', 'status', 'deployment/metrics-server', `--timeout=${Math.round(timeoutMs / 1000)}s`], {
        timeoutMs: timeoutMs + 10_000,
      });
      // Available once the aggregated API answers with the node's first sample.
      await waitUntil(
        "metrics.k8s.io serving the node's CPU (kubectl top node)",
        async () => (await kubectl(['top', 'node', NODE_NAME, '--no-headers'], { allowFailure: true })).includes(NODE_NAME),
        { timeoutMs: 180_000, intervalMs: 3000 },
      );
      mark('metrics-server Ready');
    }

    const cluster: Cluster = {
      dir,
      kubeconfig,
      env,
      apiServer,
      containerdAddress: ctrAddress,
      timings,
      logFiles,
      before,
      kubectl,
      getJson: async <T>(args: readonly string[]) => JSON.parse(await kubectl(['get', ...args, '-o', 'json'])) as T,
      helm,
      ctr,
      importImages: (more) => importImages(ctrAddress, more, path.join(logDir, 'images.log')),
      trustRegistry: (address) => {
        const hostsDir = path.join(containerdDir, 'certs.d', address);
        fs.mkdirSync(hostsDir, { recursive: true });
        fs.writeFileSync(
          path.join(hostsDir, 'hosts.toml'),
          `server = "http://${address}"\n\n[host."http://${address}"]\n  capabilities = ["pull", "resolve"]\n`,
        );
      },
      stop,
    };
    return cluster;
  } catch (err) {
    const left = await stop().catch((e: Error) => [`stop failed: ${e.message}`]);
    if (left.length) (err as Error).message += `\n(after the failed start, the host still differs: ${left.join('; ')})`;
    throw err;
  }
}

interface StopContext {
  dir: string;
  before: HostSnapshot;
  processes: ManagedProcess[];
  kubectl: (args: readonly string[], options?: RunOptions) => Promise<string>;
  ctr: (args: readonly string[], options?: RunOptions) => Promise<string>;
  progress: (line: string) => void;
}

async function stopCluster(c: StopContext): Promise<string[]> {
  const byName = (n: string) => c.processes.find((p) => p.name === n && !p.hasExited());
  // 1. Pods away through the kubelet (it tears down their network: veths, netns, IPAM), bounded:
  //    the test namespaces, CoreDNS, then any pod left; then until containerd runs no task.
  if (byName('kube-apiserver') && byName('kubelet')) {
    c.progress('deleting every pod');
    await c.kubectl(['delete', 'namespaces', '-l', 'wbc-test=true', '--timeout=120s'], { allowFailure: true, timeoutMs: 130_000 });
    await c.kubectl(['delete', 'deployment', 'coredns', '-n', 'kube-system', '--timeout=60s'], { allowFailure: true, timeoutMs: 70_000 });
    await c.kubectl(['delete', 'pods', '--all', '--all-namespaces', '--grace-period=2', '--timeout=60s'], {
      allowFailure: true,
      timeoutMs: 75_000,
    });
    for (let i = 0; i < 30; i++) {
      const tasks = await c.ctr(['tasks', 'ls', '-q'], { allowFailure: true, timeoutMs: 10_000 });
      if (!tasks.trim()) break;
      await delay(1000);
    }
  }
  // 2. The node and control plane processes, by PID, in reverse order of start (containerd last).
  for (const name of ['kube-router', 'kube-proxy', 'kubelet', 'kube-scheduler', 'kube-controller-manager', 'kube-apiserver', 'etcd']) {
    await byName(name)?.stop({ graceMs: 10_000 });
  }
  // 3. Containers left (a pod the kubelet could not delete in time): killed through containerd.
  if (byName('containerd')) {
    const tasks = (await c.ctr(['tasks', 'ls', '-q'], { allowFailure: true, timeoutMs: 20_000 })).split('\n').filter(Boolean);
    for (const t of tasks) await c.ctr(['tasks', 'kill', '--signal', 'SIGKILL', '--all', t], { allowFailure: true, timeoutMs: 10_000 });
    await delay(tasks.length ? 1000 : 0);
    for (const t of tasks) await c.ctr(['tasks', 'delete', '--force', t], { allowFailure: true, timeoutMs: 10_000 });
    await byName('containerd')?.stop({ graceMs: 10_000 });
  }
  for (const p of c.processes) if (!p.hasExited()) await p.kill();
  await killShims(c.dir);
  await killProcessesInNewCgroups(c.before);
  // 4. Mounts (overlay rootfs, secret tmpfs, netns bind mounts), then the host state.
  await unmountBelow(c.dir);
  c.progress('restoring the host');
  const problems = await restoreHost(c.before, (l) => l === BRIDGE || l.startsWith('veth') || l === 'cni-podman0', c.progress);
  fs.rmSync(c.dir, { recursive: true, force: true });
  const after = await snapshotHost();
  const left = [...problems, ...diffHost(c.before, after)];
  if (!left.length) fs.rmSync(stateFile, { force: true });
  return left;
}

/** containerd-shim processes of this cluster (their command line names its socket), SIGKILLed by PID. */
async function killShims(dir: string): Promise<void> {
  for (const pid of fs.readdirSync('/proc').filter((e) => /^\d+$/.test(e))) {
    let cmd = '';
    try {
      cmd = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    } catch {
      continue;
    }
    if (cmd.includes('containerd-shim') && cmd.includes(dir)) {
      try {
        process.kill(Number(pid), 'SIGKILL');
      } catch {
        // gone
      }
    }
  }
  await delay(500);
}

function readState(): SavedState | undefined {
  try {
    return JSON.parse(fs.readFileSync(stateFile, 'utf8')) as SavedState;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new Error(`${stateFile} cannot be read (${(err as Error).message}); undo the cluster it describes by hand`);
  }
}

/** The PIDs of processes whose command line names the directory (the cluster's own, its dockerd, its registry). */
export function processesNaming(dir: string): number[] {
  return fs
    .readdirSync('/proc')
    .filter((e) => /^\d+$/.test(e))
    .filter((pid) => {
      try {
        return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(dir);
      } catch {
        return false;
      }
    })
    .map(Number);
}

/**
 * A cluster recorded in the state file whose starting process has died (killed with its test run,
 * a session stopped mid-suite) is undone before a new one starts.
 */
async function undoDeadRun(progress: (line: string) => void): Promise<void> {
  const left = await cleanupCrashedCluster(progress);
  if (left.length) throw new Error(`the cluster a dead run left could not be undone; the host still differs:\n  ${left.join('\n  ')}`);
}

/**
 * Undoes a cluster whose starting process died (reads the state file; `cli.js down` by hand, and
 * scripts/test.sh around the suite). One whose starting process lives is in use: refused.
 */
export async function cleanupCrashedCluster(progress: (line: string) => void = () => undefined): Promise<string[]> {
  const saved = readState();
  if (!saved) return [];
  const owner = saved.owner;
  const ownerAlive = owner ? processStartTime(owner.pid) === owner.startTime : saved.pids.some((p) => processStartTime(p) !== undefined);
  if (ownerAlive)
    throw new Error(`a cluster is running (started by pid ${owner?.pid ?? '?'}, in ${saved.dir}); stop it, or wait for its run to end`);
  progress(`a run that died (pid ${owner?.pid ?? '?'}) left a cluster in ${saved.dir}: undoing it`);
  for (const pid of [...saved.pids].reverse()) {
    // Only PIDs still running a binary of the cluster's (a recycled PID is left alone).
    let cmd = '';
    try {
      cmd = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    } catch {
      continue;
    }
    if (cmd.includes(saved.dir) || /kube|etcd|containerd/.test(cmd)) await stopPid(pid, { graceMs: 5000 });
  }
  await killShims(saved.dir);
  // Containers of pods still running (their shims are gone; the kubelet never deleted them).
  const containers = await killProcessesInNewCgroups(saved.before);
  if (containers.length) progress(`killed ${containers.length} processes of containers left running`);
  // What the suites start beside the cluster, under its directory (a registry, a Docker daemon).
  for (const pid of processesNaming(saved.dir)) await stopPid(pid, { graceMs: 5000 });
  await unmountBelow(saved.dir);
  const problems = await restoreHost(saved.before, (l) => l === BRIDGE || l.startsWith('veth') || l === 'cni-podman0', progress);
  fs.rmSync(saved.dir, { recursive: true, force: true });
  const left = [...problems, ...diffHost(saved.before, await snapshotHost())];
  if (!left.length) fs.rmSync(stateFile, { force: true });
  return left;
}
