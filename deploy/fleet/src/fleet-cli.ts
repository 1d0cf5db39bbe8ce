#!/usr/bin/env node
import {
  ConfigError,
  createKafka,
  createLogger,
  createChangeCodec,
  formatReconciliation,
  HaltError,
  type Logger,
} from '@inventory-cdc/shared';
import type { Kafka } from 'kafkajs';
import { parseFleetArgs, usage, UsageError, type FleetCommand, type GlobalOptions } from './cli-args';
import { listDeadLetters, replayDeadLetters } from './dlq-commands';
import { loadFleetConfig, sinksOf, type FleetConfig, type FleetShard, type FleetSink } from './fleet-config';
import { formatDeadLetters, formatRebuild, formatReplay, formatSignal, formatSlotResult, formatStatus, toJson } from './fleet-output';
import { OperationError } from './operation-error';
import { rebuildRedis } from './redis-rebuild';
import { dropShardSlot, resetShard } from './slot-commands';
import { signalSnapshot } from './snapshot-signal';
import { collectStatus } from './status-collector';
import { reconcileFleet } from './stock-reconcile-command';

/** What a command produced: the exit code, its JSON document and its human rendering. */
interface Outcome {
  exitCode: 0 | 1;
  data: unknown;
  text: string;
}

interface Context {
  config: FleetConfig;
  options: GlobalOptions;
  kafka: Kafka;
  logger: Logger;
  env: NodeJS.ProcessEnv;
}

async function main(argv: string[], env: NodeJS.ProcessEnv): Promise<number> {
  let json = argv.includes('--json');
  try {
    const { command, options } = parseFleetArgs(argv, env);
    json = options.json;
    if (command.kind === 'help') return emit(json, { usage }, usage, 0);
    if (!options.configFile) throw new UsageError('no fleet config: pass --config FILE or set FLEET_CONFIG_FILE');
    const config = loadFleetConfig(options.configFile, env);
    if (options.workers) config.workers = options.workers;
    const logger = createLogger({ service: 'fleet', level: options.verbose ? 'info' : 'silent', destination: process.stderr });
    const kafka = createKafka(config.kafka, 'fleet-cli', logger);
    const outcome = await run(command, { config, options, kafka, logger, env });
    return emit(json, outcome.data, outcome.text, outcome.exitCode);
  } catch (error) {
    return fail(json, error);
  }
}

async function run(command: Exclude<FleetCommand, { kind: 'help' }>, context: Context): Promise<Outcome> {
  const { config, kafka } = context;
  switch (command.kind) {
    case 'status': {
      const status = await collectStatus(config, kafka);
      return { exitCode: status.healthy ? 0 : 1, data: status, text: formatStatus(status) };
    }
    case 'slots-drop': {
      const result = await dropShardSlot(config, shardOf(config, command.shard), command.force);
      if (!result.dropped) throw new OperationError(`shard ${result.shard} has no slot ${result.slot}`);
      return { exitCode: 0, data: result, text: formatSlotResult('drop', result) };
    }
    case 'slots-reset': {
      const result = await resetShard(config, shardOf(config, command.shard), kafka, command.force);
      return { exitCode: 0, data: result, text: formatSlotResult('reset', result) };
    }
    case 'dlq-list':
      return listCommand(context, command.sink === undefined ? sinksOf(config) : [sinkOf(config, command.sink)], command.limit);
    case 'dlq-replay': {
      const result = await replayDeadLetters(kafka, sinkOf(config, command.sink), command.target);
      return { exitCode: 0, data: result, text: formatReplay(result) };
    }
    case 'rebuild-redis': {
      const file = command.workerConfig ?? config.rebuild.redisCacheConfig;
      if (!file) throw new UsageError('rebuild redis: pass --worker-config FILE or set rebuild.redisCacheConfig');
      const onLog = context.options.verbose ? (line: string) => process.stderr.write(`${line}\n`) : () => undefined;
      const result = await rebuildRedis(file, context.env, onLog);
      return { exitCode: 0, data: result, text: formatRebuild(result) };
    }
    case 'snapshot': {
      const shards = command.shard === undefined ? config.shards : [shardOf(config, command.shard)];
      const result = await signalSnapshot(config, shards, command.table);
      return { exitCode: 0, data: result, text: formatSignal(result) };
    }
    case 'reconcile': {
      const result = await reconcileFleet(config, command.sink);
      return { exitCode: result.differences.length === 0 ? 0 : 1, data: result, text: formatReconciliation(result).join('\n') };
    }
  }
}

async function listCommand(context: Context, sinks: FleetSink[], limit: number): Promise<Outcome> {
  const registry = context.config.registry;
  const codec = registry ? createChangeCodec(registry, context.kafka, context.config.topics.prefix, context.logger) : undefined;
  try {
    const lists = [];
    for (const sink of sinks)
      lists.push({ sink: sink.name, topic: sink.dlqTopic, entries: await listDeadLetters(context.kafka, sink, limit, codec) });
    const text =
      lists.length > 0 ? lists.map((list) => formatDeadLetters(list.sink, list.topic, list.entries)).join('\n\n') : 'no sinks configured';
    return { exitCode: 0, data: lists, text };
  } finally {
    await codec?.close();
  }
}

function shardOf(config: FleetConfig, id: number): FleetShard {
  const shard = config.shards.find((candidate) => candidate.id === id);
  if (!shard) throw new UsageError(`shard ${id} is not in the fleet config (shards: ${config.shards.map((known) => known.id).join(', ')})`);
  return shard;
}

function sinkOf(config: FleetConfig, name: string): FleetSink {
  const sink = sinksOf(config).find((candidate) => candidate.name === name);
  if (!sink)
    throw new UsageError(
      `sink ${name} is not in the fleet config (sinks: ${config.sinks.map((known) => known.name).join(', ') || 'none'})`,
    );
  return sink;
}

function emit(json: boolean, data: unknown, text: string, exitCode: number): number {
  process.stdout.write(`${json ? toJson(data) : text}\n`);
  return exitCode;
}

/** Usage and config errors exit 2, everything else that stops a command exits 1. */
function fail(json: boolean, error: unknown): number {
  const usageLike = error instanceof UsageError || error instanceof ConfigError;
  const kind = error instanceof UsageError ? 'usage' : error instanceof ConfigError ? 'config' : 'operation';
  const message = error instanceof Error ? error.message : String(error);
  const hint = error instanceof OperationError || error instanceof HaltError ? error.hint : undefined;
  if (json) process.stdout.write(`${toJson({ error: { kind, message, ...(hint ? { hint } : {}) } })}\n`);
  else
    process.stderr.write(
      `fleet: ${message}\n${hint ? `hint: ${hint}\n` : ''}${error instanceof UsageError ? "run 'fleet --help' for usage\n" : ''}`,
    );
  return usageLike ? 2 : 1;
}

void main(process.argv.slice(2), process.env).then((code) => {
  // Client libraries may keep sockets or timers for a while after disconnecting; the answer is out.
  process.stdout.write('', () => process.exit(code));
});
