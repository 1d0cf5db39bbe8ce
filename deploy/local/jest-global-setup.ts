import { stackEndpointsVariable } from '../../shared/testing/stack-endpoints';
import { buildWorkspace } from '../../shared/testing/worker-process';
import { isStackUp, stackUp } from './stack';

/**
 * Brings the local stack up before the integration tests when it is down (the teardown then stops it
 * again; a developer's running stack is left alone), and hands its endpoints to the test workers.
 */
export default async function globalSetup(): Promise<void> {
  // Workers under test run from their compiled output, as deployed.
  buildWorkspace();
  const wasUp = await isStackUp();
  const endpoints = await stackUp({ log: (line) => process.stderr.write(`[stack] ${line}\n`) });
  if (!wasUp) process.env.CDC_STACK_STARTED_BY_TESTS = '1';
  process.env[stackEndpointsVariable] = JSON.stringify(endpoints);
}
