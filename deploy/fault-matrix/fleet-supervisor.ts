import type { ManagedProcess } from '@inventory-cdc/shared/testing';
import { setTimeout as sleep } from 'node:timers/promises';

/** One exit of a fleet member that nobody asked for. */
export interface MemberExit {
  name: string;
  code: number | null;
  /** Since the supervisor started. */
  atMs: number;
}

interface Supervised {
  member: { name: string };
  process: ManagedProcess;
}

interface RestartState {
  delayMs: number;
  dueAt: number | undefined;
  startedAt: number;
}

const firstDelayMs = 500;
/** Docker's cap is a minute; ten seconds keeps a crash loop visible without eating the suite's time. */
const maxDelayMs = 10_000;
/** Up this long, a member's next restart starts from the first delay again (Docker: 10 s). */
const healthyAfterMs = 10_000;

/**
 * The deployment's supervisor, as the fault matrix runs the fleet: docker-compose.yml starts every worker
 * and receiver with `restart: unless-stopped`, so a member that exits by itself is started again after a
 * delay that doubles per consecutive exit. A member removed from the fleet (an operator's replacement)
 * is no longer watched. Every exit is recorded: the suite prints them and judges the expected ones.
 */
export class FleetSupervisor {
  readonly exits: MemberExit[] = [];
  private readonly state = new Map<ManagedProcess, RestartState>();
  private readonly startedAt = Date.now();
  private running = true;
  private readonly loop: Promise<void>;

  constructor(
    /** The fleet's current members; read on every round, so replaced members drop out. */
    private readonly members: () => readonly Supervised[],
    private readonly log: (line: string) => void,
  ) {
    this.loop = this.watch();
  }

  private async watch(): Promise<void> {
    while (this.running) {
      for (const entry of this.members()) await this.check(entry);
      await sleep(250);
    }
  }

  private async check({ member, process }: Supervised): Promise<void> {
    const now = Date.now();
    let state = this.state.get(process);
    if (!state) {
      state = { delayMs: firstDelayMs, dueAt: undefined, startedAt: now };
      this.state.set(process, state);
    }
    if (process.isRunning()) {
      if (now - state.startedAt >= healthyAfterMs) state.delayMs = firstDelayMs;
      return;
    }
    if (state.dueAt === undefined) {
      const code = await process.exitCode();
      this.exits.push({ name: member.name, code, atMs: now - this.startedAt });
      this.log(`supervisor: ${member.name} exited with ${code}; restarting it in ${state.delayMs} ms`);
      state.dueAt = now + state.delayMs;
      state.delayMs = Math.min(state.delayMs * 2, maxDelayMs);
      return;
    }
    if (now < state.dueAt || !this.running) return;
    state.dueAt = undefined;
    state.startedAt = now;
    process.start();
  }

  /** Stops watching (before the fleet is stopped, so its exits are not answered with restarts). */
  async stop(): Promise<void> {
    this.running = false;
    await this.loop;
  }
}
