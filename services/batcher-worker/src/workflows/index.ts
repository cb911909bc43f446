// Workflows of the batcher worker (its workflowsPath).
export { batcherWorkflow } from './batcher';
