import { formatLsn, parseLsn, type Logger } from '@inventory-cdc/shared';
import type { ClientConfig } from 'pg';
import { LogicalReplicationService, PgoutputPlugin } from 'pg-logical-replication';
import { decodePgoutput, type PgoutputMessage } from './pgoutput-decode';

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

export interface ReplicationStreamOptions {
  clientConfig: ClientConfig;
  slot: string;
  publication: string;
  /** Standby status update interval; must stay under half of the server's wal_sender_timeout. */
  statusIntervalMs: number;
  logger: Logger;
}

/**
 * One streaming session of a slot. Messages reach `onMessage` one at a time, and the next is read only
 * after the handler's promise settles (flow control), so a slow Kafka pauses the replication stream.
 *
 * Acknowledgement is manual only: the library's timer would otherwise report the last *received* LSN as
 * flushed. `acknowledge(lsn)` reports `lsn + 1` as flushed (the library adds one); Postgres then skips, on
 * the next start, every transaction whose commit record starts below that, i.e. at or before `lsn`.
 */
export class ReplicationStream {
  private readonly service: LogicalReplicationService;
  private acknowledged: bigint;
  private statusTimer: NodeJS.Timeout | undefined;
  private failed = false;
  /** WAL end the server reported in its last keepalive. */
  serverWalEnd = 0n;

  constructor(
    private readonly options: ReplicationStreamOptions,
    /** LSN the slot confirmed before this session; the session starts reading after it. */
    confirmedFlushLsn: bigint,
  ) {
    this.acknowledged = confirmedFlushLsn > 0n ? confirmedFlushLsn - 1n : 0n;
    this.service = new LogicalReplicationService(options.clientConfig, {
      acknowledge: { auto: false, timeoutSeconds: 0 },
      flowControl: { enabled: true },
    });
  }

  get acknowledgedLsn(): bigint {
    return this.acknowledged;
  }

  /**
   * Streams until `stop()` or a failure. Any failure — a handler error included — ends the session: the
   * library would otherwise keep delivering (and we could acknowledge) messages after a lost one.
   */
  run(onMessage: (message: PgoutputMessage, walStart: bigint) => Promise<void>, onKeepalive: (walEnd: bigint) => void): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const fail = (error: unknown): void => {
        if (this.failed) return;
        this.failed = true;
        void this.stop().finally(() => reject(error));
      };
      this.service.on('data', async (lsn: string, message: PgoutputMessage) => {
        if (this.failed) return;
        try {
          await onMessage(message, parseLsn(lsn));
        } catch (error) {
          fail(error);
        }
      });
      this.service.on('heartbeat', (lsn: string, _timestamp: number, shouldRespond: boolean) => {
        this.serverWalEnd = parseLsn(lsn);
        onKeepalive(this.serverWalEnd);
        if (shouldRespond) void this.sendStatus();
      });
      this.service.on('error', fail);
      this.service.on('start', () => {
        this.options.logger.info({ slot: this.options.slot, from: formatLsn(this.acknowledged + 1n) }, 'replication streaming');
        this.statusTimer = setInterval(() => void this.sendStatus(), this.options.statusIntervalMs);
      });
      const plugin = new RawPgoutputPlugin({ protoVersion: 1, publicationNames: [this.options.publication], messages: true });
      this.service
        .subscribe(plugin, this.options.slot, formatLsn(this.acknowledged + 1n))
        .then(() => (this.failed ? undefined : resolve()))
        .catch(fail);
    });
  }

  /** Reports everything up to and including `lsn` as durable downstream. Only ever moves forward. */
  acknowledge(lsn: bigint): void {
    if (lsn <= this.acknowledged) return;
    this.acknowledged = lsn;
    void this.sendStatus();
  }

  private async sendStatus(): Promise<void> {
    try {
      await this.service.acknowledge(formatLsn(this.acknowledged));
    } catch (error) {
      this.options.logger.warn({ err: error }, 'status update failed');
    }
  }

  async stop(): Promise<void> {
    if (this.statusTimer) clearInterval(this.statusTimer);
    this.statusTimer = undefined;
    await this.service.stop().catch(() => undefined);
  }
}
