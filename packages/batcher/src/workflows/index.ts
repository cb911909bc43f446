// Workflows of the batcher worker (its workflowsPath).
import { installInboundGuard } from './inbound-guard';
import { usePlainStackTraces } from './plain-stacks';

usePlainStackTraces();
installInboundGuard();

export { batcherWorkflow } from './batcher';
