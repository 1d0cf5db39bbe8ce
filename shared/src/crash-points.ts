import { z } from 'zod';

/**
 * Named points where a test can make a worker die as if by `kill -9` (no cleanup code runs), to prove
 * that a crash at exactly that instant loses and doubles nothing. Off unless configured: production
 * configs have no `faultInjection` section.
 */
export const faultInjectionSchema = z
  .object({
    /** Probability (0..1) of dying each time a named point is passed, e.g. `{ after-kafka-commit: 0.05 }`. */
    crashPoints: z.record(z.number().min(0).max(1)).default({}),
  })
  .strict();

let configured: Record<string, number> = {};

export function configureCrashPoints(points: Record<string, number>): void {
  configured = { ...points };
}

export function crashPoint(name: string): void {
  const probability = configured[name];
  if (probability !== undefined && Math.random() < probability) process.kill(process.pid, 'SIGKILL');
}
