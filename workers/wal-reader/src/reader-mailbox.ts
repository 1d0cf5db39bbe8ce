/**
 * The reader loop's one inbox: replication messages, batch deadlines, slot-watch failures and the stop
 * request all arrive here, in the order they happened, and the loop takes them in batches. A batch costs
 * one promise however many messages it holds, which is what makes one-row transactions cheap.
 *
 * Posted bytes are counted until taken, so a producer of events (the replication stream) can pause itself
 * while the loop is busy: not taking is the flow control.
 */
export class Mailbox<E> {
  private events: E[] = [];
  private bytes = 0;
  private wake: (() => void) | undefined;
  private readonly takenListeners: Array<() => void> = [];

  /** Adds an event; returns the bytes posted and not yet taken. */
  post(event: E, bytes = 0): number {
    this.events.push(event);
    this.bytes += bytes;
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
    return this.bytes;
  }

  /** Every event posted since the last call, oldest first; waits while there is none. */
  async take(): Promise<E[]> {
    while (this.events.length === 0) await new Promise<void>((resolve) => (this.wake = resolve));
    const events = this.events;
    this.events = [];
    this.bytes = 0;
    for (const listener of this.takenListeners) listener();
    return events;
  }

  /** Called after every `take()` (the replication stream resumes reading there). */
  onTaken(listener: () => void): void {
    this.takenListeners.push(listener);
  }
}
