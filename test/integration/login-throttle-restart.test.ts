import { afterEach, describe, expect, it } from 'vitest';
import { accountKey } from '../../src/accounts/login-throttle.js';
import { ManualClock } from '../../src/security/clock.js';
import { arrangeStore, baseDocument, gatewayFolder, startFromFolder, type GatewayFolder, type RunningGateway } from '../helpers/file-gateway.js';
import { PASSWORD } from '../helpers/gateway.js';
import { call } from '../helpers/http.js';

/**
 * The login throttle's failures and back-off live in the store (Store.throttle), not in process
 * memory: restarting a one-worker SQLite gateway (the case that kept every other counter in memory)
 * neither lifts a running back-off nor forgets the failures counted towards the next one, and the
 * housekeeping purge removes a hold once it is over. The PostgreSQL side (a Redis restart) is in
 * test/integration/cluster-faults.test.ts.
 */

let folder: GatewayFolder;
let running: RunningGateway | undefined;

afterEach(async () => {
  await running?.stop();
  running = undefined;
  folder.remove();
});

const attempt = (url: string, password: string) => call(url, '/auth/login', { method: 'POST', body: { username: 'alice', password } });

describe('login throttle across a restart (SQLite, one worker)', () => {
  it('a back-off started before the restart still holds after it, and the purge forgets it once over', async () => {
    folder = gatewayFolder();
    folder.writeKey('master.key');
    folder.writeConfig(baseDocument({ login: { maxFailures: 3, backoff: '30s', maxBackoff: '30s' } }));
    const clock = new ManualClock(Date.now());
    await arrangeStore(folder, { users: [{ name: 'alice' }], clock });

    running = await startFromFolder(folder, { clock });
    for (let i = 1; i <= 3; i++) expect((await attempt(running.url, `wrong password ${i}`)).status).toBe(401);
    expect((await attempt(running.url, PASSWORD)).status).toBe(429);
    await running.stop();

    running = await startFromFolder(folder, { clock });
    const held = await attempt(running.url, PASSWORD);
    expect([held.status, held.headers['retry-after']]).toEqual([429, '30']);

    // blockedUntil at time 0 sees any stored hold, ended or not: only the purge removes it.
    const stored = () => running!.gateway.services.store.throttle.blockedUntil(accountKey('alice'), 0);
    clock.advance(30_000 - 1);
    await running.gateway.housekeep();
    expect(await stored()).not.toBeNull();
    clock.advance(1);
    await running.gateway.housekeep();
    expect(await stored()).toBeNull();
    // The failures are still counted (24 h memory): the next failure continues the back-off at once.
    expect((await attempt(running.url, 'wrong password 4')).status).toBe(401);
    expect((await attempt(running.url, PASSWORD)).status).toBe(429);
  });
});
