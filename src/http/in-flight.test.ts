import { describe, expect, it } from 'vitest';
import { InFlight } from './in-flight.js';

describe('InFlight', () => {
  it('is idle at once with nothing in flight', async () => {
    await expect(new InFlight().idle()).resolves.toBeUndefined();
  });

  it('resolves idle() only when the last request of its generation has left', async () => {
    const generation = new InFlight();
    generation.enter();
    generation.enter();
    let idle = false;
    const waiting = generation.idle().then(() => {
      idle = true;
    });
    generation.leave();
    await Promise.resolve();
    expect(idle).toBe(false);
    generation.leave();
    await waiting;
    expect(idle).toBe(true);
  });
});
