import pino from 'pino';
import { Lifecycle } from './lifecycle';
import { Readiness } from './readiness';

const silent = pino({ level: 'silent' });

describe('Lifecycle', () => {
  it('runs every cleanup in reverse order even when one fails, once, and reports exit code 1', async () => {
    const lifecycle = new Lifecycle(silent);
    const ran: string[] = [];
    lifecycle.onStop('connections', () => void ran.push('connections'));
    lifecycle.onStop('batch', () => {
      ran.push('batch');
      throw new Error('commit failed');
    });
    lifecycle.onStop('intake', () => void ran.push('intake'));
    lifecycle.markRunning();
    const [first, second] = await Promise.all([lifecycle.stop('test'), lifecycle.stop('again')]);
    expect(ran).toEqual(['intake', 'batch', 'connections']);
    expect([first, second]).toEqual([1, 1]);
    expect(lifecycle.state).toBe('stopped');
    expect(lifecycle.signal.aborted).toBe(true);
  });

  it('refuses transitions that are not allowed', async () => {
    const lifecycle = new Lifecycle(silent);
    await lifecycle.stop('early');
    expect(() => lifecycle.markRunning()).toThrow(/stopped → running/);
  });
});

describe('Readiness', () => {
  it('is ready only with at least one check and all passing, and reports changes', () => {
    const readiness = new Readiness();
    const changes: boolean[] = [];
    readiness.onChange((ready) => changes.push(ready));
    expect(readiness.isReady()).toBe(false);
    readiness.set('kafka', true);
    readiness.set('slot', false, 'slot invalidated');
    expect(readiness.report()).toEqual({
      ready: false,
      checks: { kafka: { ok: true, detail: 'ok' }, slot: { ok: false, detail: 'slot invalidated' } },
    });
    readiness.set('slot', true);
    expect(changes).toEqual([true, false, true]);
  });
});
