// By hand: `node harness/dist/cluster/cli.js up` builds the images, starts the cluster, prints
// the KUBECONFIG to use and waits for Ctrl-C (then stops it and puts the host back); `up --bare`
// starts it without the project's image;
// `... down` undoes a cluster whose process died (processes by their recorded PIDs, bridge, netns,
// cgroups, iptables, sysctls).
import { cleanupCrashedCluster, projectImage, startCluster } from './index';
import { onStopSignal } from '../processes';

async function main(): Promise<void> {
  const command = process.argv[2] ?? 'up';
  const say = (l: string) => console.log(`[cluster] ${l}`);
  if (command === 'down') {
    const left = await cleanupCrashedCluster(say);
    say(left.length ? `the host still differs:\n  ${left.join('\n  ')}` : 'nothing left');
    process.exit(left.length ? 1 : 0);
  }
  if (command !== 'up') throw new Error('usage: cli.js up [--bare] | down');
  const bare = process.argv.includes('--bare');
  const image = bare ? undefined : await projectImage({ tag: 'dev', logFile: '.run/cluster-images.log', progress: say });
  const cluster = await startCluster({ images: image ? [image] : [], progress: say });
  say(`ready: export KUBECONFIG=${cluster.kubeconfig}  (${image ? `project image ${image.name}` : 'no project image'}; Ctrl-C stops it)`);
  onStopSignal(async () => {
    const left = await cluster.stop();
    say(left.length ? `the host still differs:\n  ${left.join('\n  ')}` : 'stopped; host as before');
    process.exit(left.length ? 1 : 0);
  });
  setInterval(() => undefined, 1 << 30);
}

main().catch((err: Error) => {
  console.error(err.message);
  process.exit(1);
});
