import { describe, expect, it } from 'vitest';
import { ConfigError } from '#core/errors.ts';
import { parseSimulatorOptions, SIMULATOR_DEFAULTS } from '#simulator/options.ts';

const keyOf = (input: unknown): string | undefined => {
  try {
    parseSimulatorOptions(input);
    return undefined;
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as ConfigError).key;
  }
};

describe('parseSimulatorOptions', () => {
  it('fills every default when given nothing', () => {
    const options = parseSimulatorOptions({});
    expect(options).toMatchObject({
      port: 0,
      seed: SIMULATOR_DEFAULTS.seed,
      apiKey: 'sim-key',
      apiSecret: 'sim-secret',
      userCacheSize: 10_000,
      faults: {
        status429Rate: 0,
        retryAfterSeconds: 1,
        retryAfterAsDate: false,
        status5xxRate: 0,
        malformedRate: 0,
        hangRate: 0,
        hangMs: 30_000,
        latencyMs: 0,
        envelope: 'top',
        failUsers: [],
        rejectTokenUsers: [],
        failUserRate: 0,
        maxConsecutiveFaults: 2,
      },
    });
    expect(options.tokenMaxUses).toBeUndefined();
    expect(options.pageSize).toBeUndefined();
    expect(options.rateLimit).toBeUndefined();
    expect(parseSimulatorOptions(undefined).faults.hangMs).toBe(30_000);
  });

  it('keeps fault defaults for the faults not given', () => {
    expect(parseSimulatorOptions({ faults: { status429Rate: 0.5 } }).faults).toMatchObject({
      status429Rate: 0.5,
      maxConsecutiveFaults: 2,
      envelope: 'top',
    });
  });

  it('names the offending option in its error', () => {
    expect(keyOf({ port: 70_000 })).toBe('port');
    expect(keyOf({ faults: { status429Rate: 1.5 } })).toBe('faults.status429Rate');
    expect(keyOf({ faults: { envelope: 'nested' } })).toBe('faults.envelope');
    expect(keyOf({ tokenMaxUses: 0 })).toBe('tokenMaxUses');
    expect(keyOf({ log: 'stdout' })).toBe('log');
    expect(keyOf({ faults: { bogus: 1 } })).toBe('faults.bogus');
    expect(keyOf({ pagesize: 10 })).toBe('pagesize');
  });

  it('refuses fault rates that add up to more than one, naming faults', () => {
    expect(keyOf({ faults: { status429Rate: 0.6, status5xxRate: 0.6 } })).toBe('faults');
  });

  it('never puts the option value in the message', () => {
    try {
      parseSimulatorOptions({ apiSecret: 987654321 });
      expect.unreachable();
    } catch (error) {
      expect((error as Error).message).toMatch(/^apiSecret: /);
      expect((error as Error).message).not.toContain('987654321');
    }
  });
});
