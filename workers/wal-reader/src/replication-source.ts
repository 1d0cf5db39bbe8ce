import { formatLsn, type Logger } from '@inventory-cdc/shared';
import type { ClientConfig } from 'pg';
import { LogicalReplicationService, PgoutputPlugin } from 'pg-logical-replication';
import { decodePgoutput, type ColumnValue, type PgoutputMessage } from './pgoutput-decode';
import type { Mailbox } from './reader-mailbox';

/**
 * pgoutput over the library's replication protocol handling, with our own message decoder: the library's
 * parser runs values through node-postgres's global type parsers (int8 as string, timestamps as local
 * Dates) and turns unchanged TOAST into `undefined`; ours keeps the exact text and says which is which.
 * Proto 1 only: the library cannot parse streamed (proto ≥ 2) transactions, so Postgres sends a large
 * transaction after its commit.
 */
class RawPgoutputPlugin extends PgoutputPlugin {
  override parse(buffer: Buffer): ReturnType<PgoutputPlugin['parse']> {
    return decodePgoutput(buffer) as unknown as ReturnType<PgoutputPlugin['parse']>;
  }
}

export interface ReplicationSourceOptions {
  clientConfig: ClientConfig;
  slot: string;
  publication: string;
  /** Standby status update interval; must stay under half of the server's wal_sender_timeout. */
  statusIntervalMs: number;
  /** Posted bytes not yet taken from the mailbox at which reading from the socket pauses. */
  maxBufferedBytes: number;
  logger: Logger;
}

/** What the stream posts to the reader's mailbox. */
export type SourceEvent = { kind: 'message'; message: PgoutputMessage } | { kind: 'stream-failed'; error: unknown };

/**
 * One streaming session of a slot. Each decoded message is posted to the reader's mailbox as it arrives;
 * flow control is the loop not taking: once `maxBufferedBytes` are posted and not taken, the socket is
 * paused (TCP then holds the walsender back) until the next `take()`. A failure or the end of the stream
 * is posted too, after the messages before it, and nothing is posted after it.
 *
 * Acknowledgement is manual only: the library's timer would otherwise report the last *received* LSN as
 * flushed. `acknowledge(lsn)` reports `lsn + 1` as flushed (the library adds one); Postgres then skips, on
 * the next start, every transaction whose commit record starts below that, i.e. at or before `lsn`.
 */
export class ReplicationSource {
  private readonly service: LogicalReplicationService;
  private acknowledged: bigint;
  private statusTimer: NodeJS.Timeout | undefined;
  private paused = false;
  private ended = false;

  constructor(
    private readonly options: ReplicationSourceOptions,
    private readonly mailbox: Pick<Mailbox<SourceEvent>, 'post' | 'onTaken'>,
    /** LSN the slot confirmed before this session; the session starts reading after it. */
    confirmedFlushLsn: bigint,
  ) {
    this.acknowledged = confirmedFlushLsn > 0n ? confirmedFlushLsn - 1n : 0n;
    this.service = new LogicalReplicationService(options.clientConfig, {
      acknowledge: { auto: false, timeoutSeconds: 0 },
      flowControl: { enabled: false },
    });
    mailbox.onTaken(() => {
      if (this.paused) this.setPaused(false);
    });
  }

  /** Connects and streams from just after the confirmed position. */
  start(): void {
    this.service.on('data', (_lsn: string, message: PgoutputMessage) => this.receive(message));
    this.service.on('heartbeat', (_lsn: string, _timestamp: number, shouldRespond: boolean) => {
      if (shouldRespond) this.sendStatus();
    });
    this.service.on('error', (error: unknown) => this.fail(error));
    this.service.on('start', () => {
      this.options.logger.info({ slot: this.options.slot, from: formatLsn(this.acknowledged + 1n) }, 'replication streaming');
      this.statusTimer = setInterval(() => this.sendStatus(), this.options.statusIntervalMs);
    });
    const plugin = new RawPgoutputPlugin({ protoVersion: 1, publicationNames: [this.options.publication], messages: true });
    this.service.subscribe(plugin, this.options.slot, formatLsn(this.acknowledged + 1n)).then(
      () => this.fail(new Error(`the replication stream of slot ${this.options.slot} ended`)),
      (error: unknown) => this.fail(error),
    );
  }

  /** Reports everything up to and including `lsn` as durable downstream. Only ever moves forward. */
  acknowledge(lsn: bigint): void {
    if (lsn <= this.acknowledged) return;
    this.acknowledged = lsn;
    this.sendStatus();
  }

  async stop(): Promise<void> {
    this.ended = true;
    if (this.statusTimer) clearInterval(this.statusTimer);
    this.statusTimer = undefined;
    await this.service.stop().catch(() => undefined);
  }

  private receive(message: PgoutputMessage): void {
    if (this.ended) return;
    const buffered = this.mailbox.post({ kind: 'message', message }, approximateBytes(message));
    if (!this.paused && buffered >= this.options.maxBufferedBytes) this.setPaused(true);
  }

  private fail(error: unknown): void {
    if (this.ended) return;
    this.ended = true;
    this.mailbox.post({ kind: 'stream-failed', error });
  }

  private setPaused(paused: boolean): void {
    this.paused = paused;
    // The library keeps its pg connection's socket here; pausing it stops reading. Messages already in
    // the current chunk still arrive and are counted.
    const stream = (this.service as unknown as { _connection?: { stream?: { pause(): void; resume(): void } } })._connection?.stream;
    if (paused) stream?.pause();
    else stream?.resume();
  }

  private sendStatus(): void {
    this.service.acknowledge(formatLsn(this.acknowledged)).catch((error: unknown) => {
      this.options.logger.warn({ err: error }, 'status update failed');
    });
  }
}

/**
 * Heap size estimate of a decoded message, for flow control: V8 objects cost a few hundred bytes each and
 * strings two bytes per character, so the estimate follows the heap rather than the wire size.
 */
function approximateBytes(message: PgoutputMessage): number {
  let bytes = 256;
  const add = (values: readonly ColumnValue[]): void => {
    for (const value of values) bytes += value.kind === 'value' ? 64 + 2 * value.text.length : 8;
  };
  switch (message.tag) {
    case 'insert':
      add(message.after);
      break;
    case 'update':
      add(message.after);
      if (message.before) add(message.before.values);
      break;
    case 'delete':
      add(message.before.values);
      break;
    case 'message':
      bytes += message.content.length;
      break;
    default:
      break;
  }
  return bytes;
}
