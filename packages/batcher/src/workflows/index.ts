// Workflows of the batcher worker (its workflowsPath).
import { usePlainStackTraces } from './plain-stacks';

usePlainStackTraces();

export { batcherWorkflow } from './batcher';
