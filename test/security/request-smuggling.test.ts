import { beforeAll, describe, expect, it } from 'vitest';
import { login } from '../helpers/http.js';
import { rawErrorCode, rawExchange } from '../helpers/attack.js';
import { useGateway } from '../helpers/lifecycle.js';

/**
 * HTTP request smuggling (RFC 9112 §6.3, §11.2; CVE-2022-32215 and friends): a message whose length
 * two parsers can disagree about, so that bytes one of them takes for the end of a body the other
 * takes for the start of a second request. SPEC §4.4: conflicting Content-Length/Transfer-Encoding,
 * bare LF, obs-fold and whitespace before a colon are 400 and the connection is closed.
 *
 * Every attack below carries a second request for an admin-only path with a marker in it. Whatever
 * the gateway answers, that request must never reach the upstream — neither as a request of its own
 * nor by the first request's framing swallowing or leaking it.
 */

let alice: string;

const env = useGateway();
beforeAll(async () => {
  alice = await login(env.gw.url);
});

const smuggled = 'GET /api/admin/SMUGGLED HTTP/1.1\r\nHost: localhost:8080\r\nConnection: close\r\n\r\n';

/** The head of an otherwise valid, authenticated POST; `framing` holds the attack's header lines. */
function post(framing: string, version = 'HTTP/1.1', eol = '\r\n'): string {
  return [`POST /api/x ${version}`, 'Host: localhost:8080', `Cookie: gatehouse=${alice}`, 'X-CSRF: 1', 'Content-Type: text/plain', framing].join(eol) + eol + eol;
}

/** No request reached the upstream that carried, or was, the smuggled one. */
function expectNothingSmuggled(): void {
  for (const seen of env.upstream.seen) {
    expect(seen.url).not.toContain('SMUGGLED');
    expect(seen.body.toString('latin1')).not.toContain('SMUGGLED');
  }
}

async function expectRefusedAndClosed(data: string, label: string): Promise<void> {
  const reply = await rawExchange(env.gw.gateway.port, data);
  expect(reply.statuses, label).toEqual([400]);
  expect(rawErrorCode(reply.text), label).toBe('bad_request');
  expect(reply.closed, `${label}: the connection is closed`).toBe(true);
  expect(reply.text.toLowerCase(), label).toContain('connection: close');
  expect(env.upstream.seen, `${label}: nothing reached the upstream`).toHaveLength(0);
}

/** Built after login: every attack carries a valid session, so only the framing can refuse it. */
const ambiguous = (): Record<string, string> => ({
  'CL.TE: Content-Length then Transfer-Encoding: chunked': post('Content-Length: 6\r\nTransfer-Encoding: chunked') + `0\r\n\r\n${smuggled}`,
  'TE.CL: Transfer-Encoding: chunked then Content-Length': post('Transfer-Encoding: chunked\r\nContent-Length: 4') + `${(smuggled.length + 2).toString(16)}\r\nX=${smuggled}\r\n0\r\n\r\n`,
  'two differing Content-Length headers': post('Content-Length: 5\r\nContent-Length: 66') + `hello${smuggled}`,
  'one Content-Length with two differing values': post('Content-Length: 5, 66') + `hello${smuggled}`,
  'Content-Length with a sign': post('Content-Length: +5') + `hello${smuggled}`,
  'Content-Length in hex': post('Content-Length: 0x5') + `hello${smuggled}`,
  'Transfer-Encoding: chunked, identity': post('Transfer-Encoding: chunked, identity') + `0\r\n\r\n${smuggled}`,
  'Transfer-Encoding: identity': post('Transfer-Encoding: identity') + `0\r\n\r\n${smuggled}`,
  'Transfer-Encoding: xchunked': post('Transfer-Encoding: xchunked') + `0\r\n\r\n${smuggled}`,
  'Transfer-Encoding: xchunked with Content-Length': post('Content-Length: 5\r\nTransfer-Encoding: xchunked') + `0\r\n\r\n${smuggled}`,
  'Transfer-Encoding : chunked (space before colon)': post('Transfer-Encoding : chunked') + `0\r\n\r\n${smuggled}`,
  'Transfer-Encoding:\\tchunked with Content-Length': post('Content-Length: 5\r\nTransfer-Encoding:\tchunked') + `0\r\n\r\n${smuggled}`,
  'Transfer-Encoding: CHUNKED with Content-Length': post('Content-Length: 5\r\nTransfer-Encoding: CHUNKED') + `0\r\n\r\n${smuggled}`,
  'two Transfer-Encoding headers, chunked then identity': post('Transfer-Encoding: chunked\r\nTransfer-Encoding: identity') + `0\r\n\r\n${smuggled}`,
  'Content-Length : 0 (space before colon)': post('Content-Length : 0') + smuggled,
  'obs-fold continuation hiding Transfer-Encoding': post('X-Padding: a\r\n Transfer-Encoding: chunked\r\nContent-Length: 0') + `0\r\n\r\n${smuggled}`,
  'obs-fold continuation with a tab': post('X-Padding: a\r\n\tchunked\r\nContent-Length: 0') + smuggled,
  'bare LF line endings throughout': post('Content-Length: 0', 'HTTP/1.1', '\n') + smuggled,
  'bare LF ending one header line': post('X-Padding: a\nContent-Length: 0') + smuggled,
  'bare CR inside the head': post('X-Padding: a\rContent-Length: 0') + smuggled,
  'NUL in a header value': post('X-Padding: a\0b\r\nContent-Length: 0') + smuggled,
  'chunk size line ended by bare LF': post('Transfer-Encoding: chunked') + `5\nhello\r\n0\r\n\r\n${smuggled}`,
  'chunk extension containing a bare LF': post('Transfer-Encoding: chunked') + `5;ext\nx\r\nhello\r\n0\r\n\r\n${smuggled}`,
  'chunk size that overflows 64 bits': post('Transfer-Encoding: chunked') + `fffffffffffffffff5\r\nhello\r\n0\r\n\r\n${smuggled}`,
  'chunk size with trailing garbage': post('Transfer-Encoding: chunked') + `5x\r\nhello\r\n0\r\n\r\n${smuggled}`,
  'chunk data longer than its size': post('Transfer-Encoding: chunked') + `3\r\nhello\r\n0\r\n\r\n${smuggled}`,
});

describe('request smuggling', () => {
  it('the same POST with honest framing is forwarded (so the refusals below are about framing)', async () => {
    const reply = await rawExchange(env.gw.gateway.port, post('Content-Length: 5\r\nConnection: close') + 'hello');
    expect(reply.statuses).toEqual([200]);
    expect(env.upstream.seen.map((s) => s.body.toString())).toEqual(['hello']);
  });

  it('ambiguous or malformed framing: 400, connection closed, nothing forwarded, nothing smuggled', async () => {
    for (const [label, data] of Object.entries(ambiguous())) {
      await expectRefusedAndClosed(data, label);
      expectNothingSmuggled();
    }
  });

  it('a malformed chunk arriving after forwarding began: the upstream request is abandoned, never completed, nothing smuggled', async () => {
    const reply = await rawExchange(env.gw.gateway.port, [
      post('Transfer-Encoding: chunked') + '5\r\nhello\r\n',
      `3\r\nhello\r\n0\r\n\r\n${smuggled}`,
    ], { gapMs: 150 });
    expect(reply.statuses).toEqual([400]);
    expect(reply.closed).toBe(true);
    expect(env.upstream.seen).toHaveLength(0);
    expectNothingSmuggled();
  });

  it('the malformed framing is refused even when the request line has no session (before any routing)', async () => {
    const anonymous = `POST /api/public/x HTTP/1.1\r\nHost: localhost:8080\r\nContent-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n${smuggled}`;
    await expectRefusedAndClosed(anonymous, 'CL.TE without a session');
  });

  it('Transfer-Encoding on an HTTP/1.0 request is faulty framing (RFC 9112 §6.1): 400, closed, not forwarded', async () => {
    const data = post('Transfer-Encoding: chunked\r\nConnection: keep-alive', 'HTTP/1.0') + `5\r\nhello\r\n0\r\n\r\n${smuggled}`;
    await expectRefusedAndClosed(data, 'HTTP/1.0 with Transfer-Encoding');
    expectNothingSmuggled();
  });

  it('Transfer-Encoding:<TAB>chunked alone is valid (RFC 9110 §5.6.3 OWS) and read as chunked, so what follows the last chunk is a request of its own that the gateway itself checks', async () => {
    const data = post('Transfer-Encoding:\tchunked') + `5\r\nhello\r\n0\r\n\r\n${smuggled}`;
    const reply = await rawExchange(env.gw.gateway.port, data, { timeoutMs: 1500 });
    expect(reply.statuses[0]).toBe(200);
    expect(env.upstream.seen.map((s) => s.body.toString())).toEqual(['hello']);
    // The second request has no session: the gateway answers it, the upstream never sees it.
    expect(reply.statuses.slice(1)).toEqual([401]);
    expectNothingSmuggled();
  });

  it('a pipelined second request on a keep-alive connection goes through the whole pipeline on its own', async () => {
    const data = post('Content-Length: 5') + 'hello' + smuggled;
    const reply = await rawExchange(env.gw.gateway.port, data, { timeoutMs: 1500 });
    expect(reply.statuses).toEqual([200, 401]);
    expect(env.upstream.seen).toHaveLength(1);
    expectNothingSmuggled();
  });
});
