// Workflows of the main worker (its workflowsPath).
export { transactionWorkflow } from './transaction';
export { directWriteWorkflow } from './direct-write';
