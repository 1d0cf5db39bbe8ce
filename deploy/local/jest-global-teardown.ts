import { stackDown } from './stack';

export default async function globalTeardown(): Promise<void> {
  if (process.env.CDC_STACK_STARTED_BY_TESTS === '1') await stackDown({ log: (line) => process.stderr.write(`[stack] ${line}\n`) });
}
