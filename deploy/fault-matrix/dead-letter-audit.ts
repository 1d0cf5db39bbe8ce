import { createKafka, createLogger, dlqTopicOf } from '@inventory-cdc/shared';
import { uniqueName } from '@inventory-cdc/shared/testing';

/** One dead letter as its headers describe it (the key and value stay the original, undecoded bytes). */
export interface DeadLetterSeen {
  sink: string;
  reason: string;
  detail: string;
  /** `<topic>/<partition>/<offset>` of the event it stands for. */
  source: string;
}

/** Every dead letter each sink wrote so far: its DLQ topic read from the start to its end. */
export async function readDeadLetters(brokers: string[], prefix: string, sinks: readonly string[]): Promise<DeadLetterSeen[]> {
  const kafka = createKafka(
    { brokers, ssl: false, connectionTimeoutMs: 3_000, requestTimeoutMs: 30_000 },
    'fault-matrix-dlq',
    createLogger({ service: 'fault-matrix', level: 'warn' }),
  );
  const admin = kafka.admin();
  await admin.connect();
  const ends = new Map<string, number>();
  try {
    for (const sink of sinks) {
      const topic = dlqTopicOf({ prefix }, sink);
      for (const { partition, high } of await admin.fetchTopicOffsets(topic))
        if (Number(high) > 0) ends.set(`${topic}/${partition}`, Number(high));
    }
  } finally {
    await admin.disconnect();
  }
  const letters: DeadLetterSeen[] = [];
  if (ends.size === 0) return letters;
  const consumer = kafka.consumer({ groupId: uniqueName('fault_matrix_dlq') });
  await consumer.connect();
  try {
    const remaining = new Set(ends.keys());
    let done!: () => void;
    const finished = new Promise<void>((resolve) => (done = resolve));
    await consumer.subscribe({
      topics: [...new Set([...ends.keys()].map((key) => key.slice(0, key.lastIndexOf('/'))))],
      fromBeginning: true,
    });
    await consumer.run({
      eachMessage: ({ topic, partition, message }) => {
        const header = (name: string): string => message.headers?.[name]?.toString() ?? '';
        letters.push({
          sink: header('dlq.sink'),
          reason: header('dlq.reason'),
          detail: header('dlq.detail'),
          source: `${header('dlq.source.topic')}/${header('dlq.source.partition')}/${header('dlq.source.offset')}`,
        });
        if (Number(message.offset) + 1 >= (ends.get(`${topic}/${partition}`) ?? 0)) remaining.delete(`${topic}/${partition}`);
        if (remaining.size === 0) done();
        return Promise.resolve();
      },
    });
    await Promise.race([finished, new Promise((resolve) => setTimeout(resolve, 60_000))]);
    if (remaining.size > 0) throw new Error(`dead-letter topics not read to their end within 60 s: ${[...remaining].join(', ')}`);
  } finally {
    await consumer.disconnect();
  }
  return letters;
}
