import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { fakeTerminal, Workspace } from './harness.js';

let ws: Workspace;
beforeEach(() => {
  ws = new Workspace();
});
afterEach(() => {
  ws.remove();
});

const password = 'typed on a terminal';

/** Types each line as keystrokes once the previous prompt has been written. */
function typing(lines: string[]) {
  const terminal = fakeTerminal();
  setImmediate(function typeNext() {
    const line = lines.shift();
    if (line === undefined) return;
    terminal.write(`${line}\r`);
    setTimeout(typeNext, 10);
  });
  return terminal;
}

describe('interactive prompts', () => {
  it('user add asks twice on the terminal, without echo', async () => {
    const result = await ws.run(['user', 'add', 'alice'], { stdin: typing([password, password]) });
    expect(result.code).toBe(0);
    expect(result.stderr).toContain('New password: ');
    expect(result.stderr).toContain('Repeat the new password: ');
    expect(ws.output).not.toContain(password);
  });

  it('user add refuses two different passwords with exit 2', async () => {
    const result = await ws.run(['user', 'add', 'alice'], { stdin: typing([password, `${password}!`]) });
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('error: the two passwords do not match');
    expect(await ws.withServices(async ({ accounts }) => accounts.get('alice'))).toBeNull();
  });

  it('user add refuses a weak password before asking again', async () => {
    const result = await ws.run(['user', 'add', 'alice'], { stdin: typing(['short']) });
    expect(result.code).toBe(2);
    expect(result.stderr).not.toContain('Repeat');
  });

  it('secret set asks twice on a terminal', async () => {
    const value = 'typed-secret-value-123';
    const result = await ws.run(['secret', 'set', 'weather-token'], { stdin: typing([value, value]) });
    expect(result.code).toBe(0);
    expect(result.stderr).toContain('Secret value: ');
    expect(ws.output).not.toContain(value);
    expect(await ws.withServices(async ({ secrets }) => secrets.reveal('weather-token'))).toBe(value);
  });
});
