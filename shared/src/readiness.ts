/**
 * Readiness as a set of named checks, each owned by one component (e.g. `kafka`, `slot`, `redis`).
 * The worker is ready when it has at least one check and all of them pass. Components flip their own
 * check; a crashed client sets its check false with the reason, which /readyz shows.
 */
export class Readiness {
  private readonly checks = new Map<string, { ok: boolean; detail: string }>();
  private readonly listeners: ((ready: boolean) => void)[] = [];

  set(check: string, ok: boolean, detail = ok ? 'ok' : 'not ready'): void {
    const before = this.isReady();
    this.checks.set(check, { ok, detail });
    const after = this.isReady();
    if (before !== after) this.listeners.forEach((listener) => listener(after));
  }

  isReady(): boolean {
    return this.checks.size > 0 && [...this.checks.values()].every((check) => check.ok);
  }

  report(): { ready: boolean; checks: Record<string, { ok: boolean; detail: string }> } {
    return { ready: this.isReady(), checks: Object.fromEntries(this.checks) };
  }

  onChange(listener: (ready: boolean) => void): void {
    this.listeners.push(listener);
  }
}
