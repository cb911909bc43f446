// Prebundles the main worker's workflow code (used by the Dockerfile) so pods start without webpack.
import path from 'node:path';
import { writeWorkflowBundle } from '@batcher/service-kit/worker';
import { workflowsPath } from './worker';

writeWorkflowBundle(workflowsPath, process.argv[2] ?? path.join(__dirname, 'workflow-bundle.js')).catch((err) => {
  console.error(err);
  process.exit(1);
});
