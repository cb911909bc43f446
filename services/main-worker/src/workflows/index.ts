// Workflows of the main worker (its workflowsPath).
export { transactionWorkflow } from './transaction';
