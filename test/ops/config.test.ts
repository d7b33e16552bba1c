import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config.ts';

// Compose files pass unset variables as empty strings (`${X:-}`): those count as unset.

describe('configuration from the environment', () => {
  it('an empty variable is unset, not a bad value', () => {
    const config = loadConfig({ INTERVENE_KEYS: '', INTERVENE_DATA_KEYS: '', INTERVENE_DATA_KEY_ID: '', PORT: '' });
    expect(config.INTERVENE_KEYS).toBeUndefined();
    expect(config.INTERVENE_DATA_KEYS).toBeUndefined();
    expect(config.PORT).toBe(3000);
  });

  it('a bad value still names the variable and the rule', () => {
    expect(() => loadConfig({ PORT: 'eighty' })).toThrow(ConfigError);
    expect(() => loadConfig({ PORT: 'eighty' })).toThrow(/PORT: /);
  });
});
