import { readFileSync } from 'node:fs';
import { cpus } from 'node:os';

/** The host's CPU time so far, in clock ticks, from /proc/stat (undefined where there is none). */
export interface HostCpuSample {
  busy: number;
  total: number;
}

export function sampleHostCpu(): HostCpuSample | undefined {
  let text: string;
  try {
    text = readFileSync('/proc/stat', 'utf8');
  } catch {
    return undefined;
  }
  // "cpu  user nice system idle iowait irq softirq steal guest guest_nice": guest time is inside user.
  const fields = text.split('\n', 1)[0]!.trim().split(/\s+/).slice(1, 9).map(Number);
  const total = fields.reduce((sum, value) => sum + value, 0);
  const idle = (fields[3] ?? 0) + (fields[4] ?? 0);
  return { busy: total - idle, total };
}

/**
 * How busy the host's CPUs were between two samples, 0..1, and how many cores that is. On a host that is
 * busy all the time every process waits for a core, and latencies measure the queue rather than the code.
 */
export function hostCpuBetween(
  before: HostCpuSample | undefined,
  after: HostCpuSample | undefined,
): { busy: number; cores: number } | undefined {
  if (!before || !after || after.total <= before.total) return undefined;
  const busy = (after.busy - before.busy) / (after.total - before.total);
  return { busy, cores: busy * cpus().length };
}
