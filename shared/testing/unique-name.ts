import { randomBytes } from 'node:crypto';

/**
 * A name no other test or run uses (topics, groups, slots, tables), safe as a Postgres identifier and a
 * Kafka topic name: lower case, digits and underscores.
 */
export function uniqueName(prefix: string): string {
  return `${prefix}_${Date.now().toString(36)}_${randomBytes(3).toString('hex')}`;
}
