import { hostCpuBetween, sampleHostCpu } from './host-cpu';

describe('host CPU sampling', () => {
  it('reports the busy share between two samples', () => {
    expect(hostCpuBetween({ busy: 100, total: 400 }, { busy: 250, total: 600 })?.busy).toBeCloseTo(0.75);
  });

  it('gives nothing for a missing sample or no elapsed time', () => {
    expect(hostCpuBetween(undefined, { busy: 1, total: 2 })).toBeUndefined();
    expect(hostCpuBetween({ busy: 1, total: 2 }, { busy: 1, total: 2 })).toBeUndefined();
  });

  it('reads /proc/stat where there is one', () => {
    const sample = sampleHostCpu();
    if (process.platform !== 'linux') return expect(sample).toBeUndefined();
    expect(sample!.total).toBeGreaterThan(0);
    expect(sample!.busy).toBeLessThanOrEqual(sample!.total);
  });
});
