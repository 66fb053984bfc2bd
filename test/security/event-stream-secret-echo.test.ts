import type { ServerResponse } from 'node:http';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { auditEvents } from '../helpers/attack.js';
import { EventStreamClient } from '../helpers/event-stream.js';
import { defaultRoutes } from '../helpers/gateway.js';
import { login } from '../helpers/http.js';
import { useGateway } from '../helpers/lifecycle.js';

/**
 * Secret echo in an event stream: the upstream puts the credential Gatehouse attached into an
 * event. Event streams are relayed event by event, with their headers sent before any body byte
 * (SPEC §10), so the guard cannot answer 502 any more: the stream is cut, no fragment of the
 * secret reaches the client — however the upstream splits it across writes and events — and a
 * secret_leak_blocked audit event is written (SPEC §4.4).
 *
 * The secret's first bytes do not occur in anything else the stream carries.
 */

const SECRET = 'Qv8mT3xLz-event-stream-secret-9Kw2';
const FRAGMENT = SECRET.slice(0, 8);

let alice: string;
const env = useGateway({
  secret: SECRET,
  config: { routes: [{ path: '/events/**', methods: ['GET'], upstream: 'api', csrf: false }, ...defaultRoutes] },
});
beforeAll(async () => {
  alice = await login(env.gw.url);
});

const clients: EventStreamClient[] = [];
afterEach(() => {
  for (const client of clients.splice(0)) client.destroy();
});

/** Opens a stream whose upstream side runs `script`; resolves when the gateway has closed it. */
async function echoAttempt(script: (res: ServerResponse, client: EventStreamClient) => Promise<void>): Promise<EventStreamClient> {
  const leaksBefore = (await auditEvents(env.gw, 'secret_leak_blocked')).length;
  let upstreamClosed = false;
  let client!: EventStreamClient;
  env.upstream.handle((_req, res) => {
    res.on('close', () => (upstreamClosed = true));
    script(res, client).catch(() => res.destroy());
  });
  client = new EventStreamClient(`${env.gw.url}/events/feed`, { session: alice });
  clients.push(client);
  await client.closed();
  expect(client.raw.includes(FRAGMENT), 'a fragment of the secret reached the client').toBe(false);
  expect(client.cut, 'the stream was cut, not ended as if complete').toBe(true);
  await expect.poll(async () => (await auditEvents(env.gw, 'secret_leak_blocked')).length, { timeout: 2000 }).toBe(leaksBefore + 1);
  const [event] = await auditEvents(env.gw, 'secret_leak_blocked');
  expect(event!.detail).toMatchObject({ upstream: 'api', where: 'body' });
  expect(JSON.stringify(event)).not.toContain(FRAGMENT);
  expect(env.gw.logs()).not.toContain(FRAGMENT);
  await expect.poll(() => upstreamClosed, { timeout: 2000 }).toBe(true);
  return client;
}

describe('an event stream echoing the secret is cut', () => {
  it('the secret in one event, after clean ones that were delivered', async () => {
    const client = await echoAttempt(async (res, client) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write('data: clean\n\n');
      await client.event(1);
      res.write(`data: {"debug":"Bearer ${SECRET}"}\n\n`);
      await new Promise<void>((resolve) => res.on('close', resolve));
    });
    expect(client.events).toEqual(['data: clean']);
  });

  it('the secret split across two writes, the first ending right after a complete event', async () => {
    const client = await echoAttempt(async (res, client) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      // One write: a whole event, then the start of the next one, up to the middle of the secret.
      res.write(`data: before\n\ndata: ${SECRET.slice(0, 17)}`);
      // The complete event is delivered while the half secret is held: the stream is not stalled.
      await client.event(1);
      res.write(`${SECRET.slice(17)}\n\ndata: after\n\n`);
      await new Promise<void>((resolve) => res.on('close', resolve));
    });
    expect(client.events).toEqual(['data: before']);
  });

  it('the secret one byte per write, across an event boundary', async () => {
    await echoAttempt(async (res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      for (const byte of `data: x\n\ndata: ${SECRET}\n\n`) {
        if (res.destroyed) return;
        res.write(byte);
        await new Promise((resolve) => setImmediate(resolve));
      }
      await new Promise<void>((resolve) => res.on('close', resolve));
    });
  });

  it('the secret JSON-escaped and URL-encoded inside an event', async () => {
    for (const form of [JSON.stringify({ token: SECRET }), `/next?auth=${encodeURIComponent(SECRET)}`]) {
      await echoAttempt(async (res) => {
        res.writeHead(200, { 'content-type': 'text/event-stream' });
        res.write(`data: ${form}\n\n`);
        await new Promise<void>((resolve) => res.on('close', resolve));
      });
    }
  });
});

describe('an event stream echoing the secret in a header', () => {
  it('is refused with 502 before anything is sent', async () => {
    env.upstream.handle((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream', 'x-debug': SECRET });
      res.end('data: x\n\n');
    });
    const client = new EventStreamClient(`${env.gw.url}/events/feed`, { session: alice });
    clients.push(client);
    const response = await client.headers();
    expect(response.statusCode).toBe(502);
    await client.closed();
    expect(client.raw).toContain('secret_leak_blocked');
    expect(client.raw.includes(FRAGMENT)).toBe(false);
  });
});
