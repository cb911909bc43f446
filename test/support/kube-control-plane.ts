// A real Kubernetes control plane for the packaging tests: etcd, kube-apiserver and
// kube-controller-manager (built by scripts/install-tools.sh into .tools/bin), each on a free
// 127.0.0.1 port, with their own PKI and data dir under the OS temp dir. No kubelet and no
// scheduler: Deployments get ReplicaSets and Pods (admission, Pod Security and quotas all run),
// Jobs get Pods, but every Pod stays Pending. Stopped by PID, like every server of the tests.
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import https from 'node:https';
import path from 'node:path';
import { promisify } from 'node:util';
import { makeCa, makeCert, makeKeyPair } from './pki';
import { freePort, makeTempDir, removeTempDir, resolveTool, spawnLogged, waitUntil, type ManagedProcess } from './processes';

const execFileAsync = promisify(execFile);

export interface KubeControlPlaneOptions {
  /**
   * Start kube-controller-manager (ReplicaSets, Pods of Jobs, garbage collection, namespace
   * deletion, HPA).
   * @default true
   */
  controllerManager?: boolean;
  /** @default 180000 (first start on a busy 2-core machine) */
  startTimeoutMs?: number;
}

export interface KubeControlPlane {
  /** https://127.0.0.1:<port> */
  readonly server: string;
  /** A kubeconfig with a system:masters token for this server. */
  readonly kubeconfig: string;
  /** KUBECONFIG plus Helm's cache/config/data homes inside the control plane's directory. */
  readonly env: Record<string, string>;
  /** The server's version, as `kubectl version` reports it (e.g. v1.33.13). */
  readonly version: string;
  readonly logFiles: Record<string, string>;
  /** kubectl with this kubeconfig; rejects with kubectl's stderr on a non-zero exit. */
  kubectl(args: readonly string[], options?: { timeoutMs?: number; input?: string }): Promise<string>;
  /** Parsed `kubectl get -o json`. */
  getJson<T = KubeObject>(args: readonly string[]): Promise<T>;
  /** Stops every process by PID (controller manager, API server, etcd) and removes the directory. */
  stop(): Promise<void>;
}

export interface KubeObject {
  apiVersion: string;
  kind: string;
  metadata: {
    name: string;
    namespace?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    generation?: number;
    uid?: string;
  };
  spec?: Record<string, unknown>;
  status?: Record<string, unknown>;
  items?: KubeObject[];
  [key: string]: unknown;
}

const TOKEN = 'packaging-tests-admin';

function writePki(dir: string): void {
  makeCa(dir, 'ca', 'packaging-tests-ca');
  makeCert(
    dir,
    'apiserver',
    'ca',
    'subjectAltName=DNS:localhost,DNS:kubernetes,DNS:kubernetes.default.svc,IP:127.0.0.1,IP:10.96.0.1\nextendedKeyUsage=serverAuth',
    'kube-apiserver',
  );
  makeKeyPair(dir, 'sa');
  fs.writeFileSync(path.join(dir, 'tokens.csv'), `${TOKEN},admin,admin-uid,system:masters\n`);
}

/** GET over HTTPS; resolves the status code (never rejects on an HTTP status). */
function httpsGet(url: string, options: { ca?: Buffer; token?: string; insecure?: boolean }): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = https.get(
      url,
      {
        ca: options.ca,
        rejectUnauthorized: !options.insecure,
        headers: options.token ? { Authorization: `Bearer ${options.token}` } : {},
        timeout: 5000,
      },
      (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      },
    );
    req.on('timeout', () => req.destroy(new Error('timed out')));
    req.on('error', reject);
  });
}

function httpGet(url: string): Promise<number> {
  return fetch(url, { signal: AbortSignal.timeout(5000) }).then((r) => r.status);
}

/** Starts etcd, then kube-apiserver, then (by default) kube-controller-manager; resolves once each is healthy. */
export async function startKubeControlPlane(options: KubeControlPlaneOptions = {}): Promise<KubeControlPlane> {
  const bins = {
    etcd: resolveTool('etcd'),
    apiserver: resolveTool('kube-apiserver'),
    kcm: resolveTool('kube-controller-manager'),
    kubectl: resolveTool('kubectl'),
  };
  const timeoutMs = options.startTimeoutMs ?? 180_000;
  const root = makeTempDir('kube-control-plane');
  const pki = path.join(root, 'pki');
  const processes: ManagedProcess[] = [];
  const stop = async () => {
    // Reverse order: the controller manager and API server first, etcd last.
    for (const p of [...processes].reverse()) await p.stop({ graceMs: 10_000 });
    removeTempDir(root);
  };
  try {
    writePki(pki);
    const ca = fs.readFileSync(path.join(pki, 'ca.crt'));
    const [etcdPort, etcdPeerPort, apiPort, kcmPort] = [await freePort(), await freePort(), await freePort(), await freePort()];
    const server = `https://127.0.0.1:${apiPort}`;
    const kubeconfig = path.join(root, 'kubeconfig');
    fs.writeFileSync(
      kubeconfig,
      [
        'apiVersion: v1',
        'kind: Config',
        'clusters:',
        `- name: tests`,
        `  cluster: {server: "${server}", certificate-authority: "${path.join(pki, 'ca.crt')}"}`,
        'users:',
        '- name: admin',
        `  user: {token: ${TOKEN}}`,
        'contexts:',
        '- name: tests',
        '  context: {cluster: tests, user: admin}',
        'current-context: tests',
        '',
      ].join('\n'),
      { mode: 0o600 },
    );

    const etcd = spawnLogged({
      name: 'etcd',
      command: bins.etcd,
      args: [
        '--name=tests',
        `--data-dir=${path.join(root, 'etcd')}`,
        `--listen-client-urls=http://127.0.0.1:${etcdPort}`,
        `--advertise-client-urls=http://127.0.0.1:${etcdPort}`,
        `--listen-peer-urls=http://127.0.0.1:${etcdPeerPort}`,
        `--initial-advertise-peer-urls=http://127.0.0.1:${etcdPeerPort}`,
        `--initial-cluster=tests=http://127.0.0.1:${etcdPeerPort}`,
        // No separate metrics listener (it would need a third port); /metrics is on the client URL.
        '--quota-backend-bytes=1073741824',
        '--log-level=warn',
      ],
    });
    processes.push(etcd);
    await waitUntil(
      `etcd on 127.0.0.1:${etcdPort} (log ${etcd.logFile})`,
      async () => {
        if (etcd.hasExited()) throw new Error(`etcd exited:\n${etcd.logTail()}`);
        return (await httpGet(`http://127.0.0.1:${etcdPort}/health`)) === 200;
      },
      { timeoutMs },
    );

    const apiserver = spawnLogged({
      name: 'kube-apiserver',
      command: bins.apiserver,
      args: [
        `--etcd-servers=http://127.0.0.1:${etcdPort}`,
        '--bind-address=127.0.0.1',
        '--advertise-address=127.0.0.1',
        `--secure-port=${apiPort}`,
        // The default endpoint reconciler refuses a loopback advertise address.
        '--endpoint-reconciler-type=none',
        `--tls-cert-file=${path.join(pki, 'apiserver.crt')}`,
        `--tls-private-key-file=${path.join(pki, 'apiserver.key')}`,
        `--client-ca-file=${path.join(pki, 'ca.crt')}`,
        '--service-account-issuer=https://kubernetes.default.svc',
        `--service-account-key-file=${path.join(pki, 'sa.pub')}`,
        `--service-account-signing-key-file=${path.join(pki, 'sa.key')}`,
        `--token-auth-file=${path.join(pki, 'tokens.csv')}`,
        '--authorization-mode=RBAC',
        '--anonymous-auth=false',
        '--service-cluster-ip-range=10.96.0.0/16',
        // PodSecurity enforces the namespace labels the tests set (restricted).
        '--enable-admission-plugins=NamespaceLifecycle,LimitRanger,ServiceAccount,PodSecurity,ResourceQuota,DefaultStorageClass,MutatingAdmissionWebhook,ValidatingAdmissionWebhook,ValidatingAdmissionPolicy',
        `--cert-dir=${path.join(root, 'apiserver-certs')}`,
      ],
    });
    processes.push(apiserver);
    await waitUntil(
      `kube-apiserver ${server}/readyz (log ${apiserver.logFile})`,
      async () => {
        if (apiserver.hasExited()) throw new Error(`kube-apiserver exited:\n${apiserver.logTail()}`);
        return (await httpsGet(`${server}/readyz`, { ca, token: TOKEN })) === 200;
      },
      { timeoutMs, intervalMs: 500 },
    );

    const logFiles: Record<string, string> = { etcd: etcd.logFile, apiserver: apiserver.logFile };
    if (options.controllerManager ?? true) {
      const kcm = spawnLogged({
        name: 'kube-controller-manager',
        command: bins.kcm,
        args: [
          `--kubeconfig=${kubeconfig}`,
          `--authentication-kubeconfig=${kubeconfig}`,
          `--authorization-kubeconfig=${kubeconfig}`,
          '--bind-address=127.0.0.1',
          `--secure-port=${kcmPort}`,
          '--leader-elect=false',
          `--service-account-private-key-file=${path.join(pki, 'sa.key')}`,
          `--root-ca-file=${path.join(pki, 'ca.crt')}`,
          '--use-service-account-credentials=false',
          `--cert-dir=${path.join(root, 'kcm-certs')}`,
        ],
      });
      processes.push(kcm);
      logFiles.controllerManager = kcm.logFile;
      await waitUntil(
        `kube-controller-manager on 127.0.0.1:${kcmPort} (log ${kcm.logFile})`,
        async () => {
          if (kcm.hasExited()) throw new Error(`kube-controller-manager exited:\n${kcm.logTail()}`);
          return (await httpsGet(`https://127.0.0.1:${kcmPort}/healthz`, { insecure: true })) === 200;
        },
        { timeoutMs, intervalMs: 500 },
      );
    }

    const env = {
      KUBECONFIG: kubeconfig,
      // kubectl's and Helm's discovery cache, otherwise under $HOME/.kube/cache.
      KUBECACHEDIR: path.join(root, 'kube-cache'),
      HELM_CACHE_HOME: path.join(root, 'helm/cache'),
      HELM_CONFIG_HOME: path.join(root, 'helm/config'),
      HELM_DATA_HOME: path.join(root, 'helm/data'),
    };
    const kubectl = async (args: readonly string[], { timeoutMs: t = 60_000, input }: { timeoutMs?: number; input?: string } = {}) => {
      if (input !== undefined) {
        // execFile has no stdin input; write it to a file of the control plane's directory.
        const file = path.join(root, `stdin-${process.hrtime.bigint()}.yaml`);
        fs.writeFileSync(file, input);
        args = args.map((a) => (a === '-' ? file : a));
      }
      try {
        const { stdout } = await execFileAsync(bins.kubectl, [...args], {
          env: { ...process.env, ...env },
          timeout: t,
          maxBuffer: 64 * 1024 * 1024,
        });
        return stdout;
      } catch (err) {
        const e = err as Error & { stderr?: string };
        throw new Error(`kubectl ${args.join(' ')}: ${e.stderr?.trim() || e.message}`);
      }
    };
    const version = (JSON.parse(await kubectl(['version', '-o', 'json'])) as { serverVersion: { gitVersion: string } }).serverVersion
      .gitVersion;
    return {
      server,
      kubeconfig,
      env,
      version,
      logFiles,
      kubectl,
      getJson: async <T>(args: readonly string[]) => JSON.parse(await kubectl(['get', ...args, '-o', 'json'])) as T,
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}
