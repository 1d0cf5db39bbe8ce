import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { ConfigError } from '@inventory-cdc/shared';
import { OperationError } from './operation-error';

export interface RebuildResult {
  rows: number | null;
  exitCode: number;
}

/**
 * Runs the redis-cache worker's own rebuild (`main.js rebuild`) with its config file and the caller's
 * environment (so its `CDC__…` overrides apply), on a port of its own choosing so it never collides with
 * a running member. Its JSON log lines go to `onLog`.
 */
export async function rebuildRedis(configFile: string, env: NodeJS.ProcessEnv, onLog: (line: string) => void): Promise<RebuildResult> {
  const main = require.resolve('@inventory-cdc/redis-cache');
  const child = spawn(process.execPath, [main, 'rebuild', '--config', configFile], {
    env: { ...env, CDC__HTTP__PORT: '0' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let rows: number | null = null;
  let lastError = '';
  const plainLines: string[] = [];
  const lines = [createInterface({ input: child.stdout }), createInterface({ input: child.stderr })];
  for (const reader of lines)
    reader.on('line', (line) => {
      onLog(line);
      const entry = parseLogLine(line);
      if (entry?.msg === 'rebuild finished' && typeof entry.rows === 'number') rows = entry.rows;
      if (entry === undefined) plainLines.push(line);
      if (entry === undefined || entry.level === 'error' || entry.level === 'fatal') lastError = entry?.err?.message ?? entry?.msg ?? line;
    });
  const exitCode = await new Promise<number>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code, signal) => resolve(code ?? (signal ? 128 : 1)));
  });
  // The worker exits 2 on an invalid config and prints the named keys, one per line.
  if (exitCode === 2)
    throw new ConfigError(
      configFile,
      plainLines.slice(1).map((line) => line.replace(/^\s*- /, '')),
    );
  if (exitCode !== 0) throw new OperationError(`redis-cache rebuild exited with ${exitCode}${lastError ? `: ${lastError}` : ''}`);
  return { rows, exitCode };
}

function parseLogLine(line: string): { msg?: string; level?: string; rows?: unknown; err?: { message?: string } } | undefined {
  try {
    return JSON.parse(line) as ReturnType<typeof parseLogLine>;
  } catch {
    return undefined;
  }
}
