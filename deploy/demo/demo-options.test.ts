import { UsageError, parseDemoArgs } from './demo-options';

describe('demo options', () => {
  it('defaults to the documented flash sale', () => {
    expect(parseDemoArgs([])).toEqual({
      keep: false,
      observe: false,
      stop: false,
      durationSeconds: 30,
      buyers: 300,
      shards: 2,
      skus: 10_000,
      hotSkus: 3,
    });
  });

  it('takes every option', () => {
    expect(
      parseDemoArgs(['--duration', '5', '--buyers', '50', '--shards', '4', '--skus', '200', '--hot', '2', '--keep', '--observe']),
    ).toEqual({
      keep: true,
      observe: true,
      stop: false,
      durationSeconds: 5,
      buyers: 50,
      shards: 4,
      skus: 200,
      hotSkus: 2,
    });
  });

  it('names the option that is wrong', () => {
    expect(() => parseDemoArgs(['--buyers', 'many'])).toThrow(new UsageError('--buyers needs an integer from 1 to 5000, got "many"'));
    expect(() => parseDemoArgs(['--shards', '9'])).toThrow('--shards needs an integer from 1 to 8');
    expect(() => parseDemoArgs(['--hot', '10', '--skus', '10'])).toThrow('--hot (10) must be below --skus (10)');
    expect(() => parseDemoArgs(['--speed', '2'])).toThrow(UsageError);
    expect(() => parseDemoArgs(['--keep', '--stop'])).toThrow('--keep and --stop exclude each other');
  });
});
