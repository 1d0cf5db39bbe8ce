/** What the live view shows at one instant; `renderLiveView` turns it into lines. Pure, for testing. */
export interface LiveModel {
  phase: 'flash sale' | 'draining' | 'done';
  progress: number;
  elapsedSeconds: number;
  durationSeconds: number;
  sale: { purchases: number; purchasesPerSecond: number; soldOut: number; restocks: number; shipments: number; errors: number };
  shards: Array<{
    id: number;
    eventsPerSecond: number;
    slotLagBytes?: number;
    retainedWalBytes?: number;
    sourceToKafkaP99?: number;
    ready: boolean;
  }>;
  sinks: Array<{
    name: string;
    eventsPerSecond: number;
    lagMessages?: number;
    lagSeconds?: number;
    p50?: number;
    p99?: number;
    /** The p99 the sink must keep to (commit → applied), seconds. */
    targetP99: number;
    ready: boolean;
  }>;
  hot: Array<{ sku: string; postgres: number | undefined; redis: number | undefined }>;
}

const integer = (value: number | undefined): string => (value === undefined ? '–' : Math.round(value).toLocaleString('en'));

export function formatBytes(value: number | undefined): string {
  if (value === undefined) return '–';
  const units = ['B', 'kB', 'MB', 'GB', 'TB'];
  let scaled = Math.max(0, value);
  let unit = 0;
  while (scaled >= 1024 && unit < units.length - 1) {
    scaled /= 1024;
    unit++;
  }
  return `${scaled.toFixed(unit === 0 ? 0 : 1)} ${units[unit]}`;
}

export function formatSeconds(value: number | undefined): string {
  if (value === undefined) return '–';
  return value < 1 ? `${Math.round(value * 1000)} ms` : `${value.toFixed(2)} s`;
}

export function progressBar(fraction: number, width: number): string {
  const filled = Math.round(Math.min(1, Math.max(0, fraction)) * width);
  return `[${'█'.repeat(filled)}${'░'.repeat(width - filled)}]`;
}

function table(header: string[], rows: string[][]): string[] {
  const widths = header.map((cell, column) => Math.max(cell.length, ...rows.map((row) => row[column]!.length)));
  const line = (cells: string[]): string =>
    cells.map((cell, column) => (column === 0 ? cell.padEnd(widths[column]!) : cell.padStart(widths[column]!))).join('  ');
  return [line(header), ...rows.map(line)];
}

export function renderLiveView(model: LiveModel): string[] {
  const { sale } = model;
  const status = model.phase === 'flash sale' ? `${Math.round(model.progress * 100)}%` : model.phase;
  const lines = [
    `flash sale ${progressBar(model.progress, 30)} ${status.padStart(4)}  ${model.elapsedSeconds.toFixed(0)}/${model.durationSeconds} s`,
    `  ${integer(sale.purchases)} purchases (${integer(sale.purchasesPerSecond)}/s), ${integer(sale.soldOut)} refused as sold out, ${integer(sale.restocks)} restocks, ${integer(sale.shipments)} shipments${sale.errors ? `, ${sale.errors} errors` : ''}`,
    '',
    ...table(
      ['shard', 'reader', 'events/s', 'slot lag', 'retained WAL', 'src→kafka p99'],
      model.shards.map((shard) => [
        String(shard.id),
        shard.ready ? 'ready' : 'NOT READY',
        integer(shard.eventsPerSecond),
        formatBytes(shard.slotLagBytes),
        formatBytes(shard.retainedWalBytes),
        formatSeconds(shard.sourceToKafkaP99),
      ]),
    ),
    '',
    ...table(
      ['sink', 'state', 'events/s', 'lag (msgs)', 'lag (s)', 'commit→applied p50', 'p99', 'target p99'],
      model.sinks.map((sink) => [
        sink.name,
        sink.ready ? 'ready' : 'NOT READY',
        integer(sink.eventsPerSecond),
        integer(sink.lagMessages),
        sink.lagSeconds === undefined ? '–' : sink.lagSeconds.toFixed(1),
        formatSeconds(sink.p50),
        formatSeconds(sink.p99),
        targetVerdict(sink.p99, sink.targetP99),
      ]),
    ),
    '',
    ...table(
      ['hot SKU', 'available in Postgres', 'in Redis', 'difference'],
      model.hot.map((row) => [
        row.sku,
        integer(row.postgres),
        integer(row.redis),
        row.postgres === undefined || row.redis === undefined
          ? '–'
          : row.postgres === row.redis
            ? 'equal'
            : integer(row.redis - row.postgres),
      ]),
    ),
  ];
  return lines;
}

/** `≤ 50 ms met` / `≤ 1.00 s MISSED` / `≤ 50 ms` (nothing measured yet). */
export function targetVerdict(p99: number | undefined, target: number): string {
  const bound = `≤ ${formatSeconds(target)}`;
  if (p99 === undefined) return bound;
  return `${bound} ${p99 <= target ? 'met' : 'MISSED'}`;
}

/** Commit → applied of one sink over the whole sale and its drain. */
export interface SaleLatency {
  sink: string;
  p50: number | undefined;
  p99: number | undefined;
  targetP99: number;
  /** Events observed (the histogram's count over the sale). */
  events: number;
}

/** The end-of-sale verdict: each sink's commit → applied over the whole sale against its target. */
export function renderSaleLatency(rows: SaleLatency[]): string[] {
  return [
    'commit → applied over the sale and its drain (each sink’s own histogram):',
    ...table(
      ['sink', 'events', 'p50', 'p99', 'target p99'],
      rows.map((row) => [
        row.sink,
        integer(row.events),
        formatSeconds(row.p50),
        formatSeconds(row.p99),
        targetVerdict(row.p99, row.targetP99),
      ]),
    ).map((line) => `  ${line}`),
  ];
}

/** One shard's reader over the whole sale and its drain: Postgres commit → taken by the reader → in Kafka. */
export interface ReaderSaleLatency {
  shard: number;
  /** Transactions committed into Kafka (the source → Kafka histogram's count over the sale). */
  transactions: number;
  receivedP50: number | undefined;
  receivedP99: number | undefined;
  kafkaP50: number | undefined;
  kafkaP99: number | undefined;
  /** One Kafka transaction, begin → commit (several Postgres transactions each under load). */
  kafkaTransactionP50: number | undefined;
  kafkaTransactionP99: number | undefined;
}

/**
 * The readers' share of the sinks' latency: how long after its Postgres commit a transaction reached the
 * reader (walsender, network, the reader's backlog), how long until it was committed in Kafka, and how long
 * one Kafka transaction takes (a transaction waits for the one in flight, then for its own).
 */
export function renderReaderLatency(rows: ReaderSaleLatency[]): string[] {
  return [
    'Postgres commit → reader → Kafka over the sale and its drain (the readers’ share of the above):',
    ...table(
      ['shard', 'transactions', 'received p50', 'p99', 'in Kafka p50', 'p99', 'Kafka txn p50', 'p99'],
      rows.map((row) => [
        String(row.shard),
        integer(row.transactions),
        formatSeconds(row.receivedP50),
        formatSeconds(row.receivedP99),
        formatSeconds(row.kafkaP50),
        formatSeconds(row.kafkaP99),
        formatSeconds(row.kafkaTransactionP50),
        formatSeconds(row.kafkaTransactionP99),
      ]),
    ).map((line) => `  ${line}`),
  ];
}

/** One line for logs that are not a terminal: each sink's p99 against its target. */
export function renderSinkLine(model: LiveModel): string {
  return `  commit→applied p99: ${model.sinks.map((sink) => `${sink.name} ${formatSeconds(sink.p99)} (${targetVerdict(sink.p99, sink.targetP99)})`).join(', ')}`;
}
