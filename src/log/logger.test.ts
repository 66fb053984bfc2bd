import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { cachedIsoTime } from './logger.js';

describe('cachedIsoTime', () => {
  it('writes what pino.stdTimeFunctions.isoTime writes, and a new text for every new millisecond', () => {
    let now = Date.UTC(2026, 11, 7, 5, 0, 0, 123);
    const time = cachedIsoTime(() => now);
    const original = Date.now;
    try {
      Date.now = () => now;
      expect(time()).toBe(pino.stdTimeFunctions.isoTime());
      expect(time()).toBe(',"time":"2026-12-07T05:00:00.123Z"');
      now += 1;
      expect(time()).toBe(pino.stdTimeFunctions.isoTime());
      expect(time()).toBe(',"time":"2026-12-07T05:00:00.124Z"');
      now -= 5_000;
      expect(time()).toBe(',"time":"2026-12-07T04:59:55.124Z"');
    } finally {
      Date.now = original;
    }
  });
});
