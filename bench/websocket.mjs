/**
 * `npm run bench:websocket` (and the end of `npm run bench`) — what relaying WebSocket messages
 * through Gatehouse costs (issue 14 item 7; SPEC §10). An echo upstream (bench/http-layer/
 * ws-upstream.mjs) and Gatehouse (bench/http-layer/server-gatehouse.mjs with BENCH_WEBSOCKET=1: the
 * session cookie, the Origin check, the bearer credential on the upstream handshake, the leak guard
 * on every upstream message) each run in their own process; the ws client runs here. Two contenders,
 * in interleaved rounds (D G, G D, …), each round on a fresh socket:
 *   D  the upstream directly,
 *   G  the same upstream through Gatehouse.
 * Each round measures
 *   - round trips: `--trips` sequential echoes of a `--size` byte text message over one socket
 *     (mean µs per round trip; G − D is the latency Gatehouse adds per message, both ways),
 *   - a burst: `--burst` messages sent at once, timed until the last echo arrives (messages/s; G/D).
 * Prints medians over rounds (per-round ratios for G/D). Asserts nothing about speed: the machine
 * is noisy and shared. Because wall-clock rates on a loaded machine mostly measure the scheduler,
 * it also prints CPU time per message, which load disturbs much less: the gateway's (G rounds)
 * beside the upstream's own per echo (D rounds), both read from the processes themselves.
 *
 *   node bench/websocket.mjs [--rounds 6] [--trips 2000] [--burst 20000] [--size 64] [--cpu-prof DIR]
 *
 * `--cpu-prof DIR` runs the gateway under `node --cpu-prof`, writing its profile into DIR when it
 * stops; `node bench/lib/cpu-profile-summary.mjs DIR/*.cpuprofile` lists where its time went.
 */
import { WebSocket } from 'ws';
import { cpuOf, fmt, median, numberArg, parseArgs, preflight, start, startWatchdog, stopAll } from './lib/harness.mjs';

const args = parseArgs(process.argv.slice(2));
const rounds = numberArg(args, 'rounds', 6, 1);
const trips = numberArg(args, 'trips', 2000, 1);
const burst = numberArg(args, 'burst', 20_000, 1);
const size = numberArg(args, 'size', 64, 1);
const message = 'x'.repeat(size);
const profileDir = typeof args['cpu-prof'] === 'string' ? args['cpu-prof'] : null;

const clearWatchdog = startWatchdog(120 + rounds * 60);
try {
  preflight({ build: true });
  const upstream = await start('ws-upstream', 'http-layer/ws-upstream.mjs');
  const gateway = await start('G', 'http-layer/server-gatehouse.mjs', { BENCH_UPSTREAM: upstream.ready.url, BENCH_WEBSOCKET: '1' }, profileDir ? ['--cpu-prof', '--cpu-prof-dir', profileDir] : []);
  const contenders = [
    { key: 'D', process: upstream, label: 'upstream directly', url: `${upstream.ready.url.replace(/^http/, 'ws')}/echo`, options: {} },
    {
      key: 'G',
      process: gateway,
      label: 'through Gatehouse',
      url: `${gateway.ready.url.replace(/^http/, 'ws')}/api/echo`,
      // A browser's handshake: the session cookie and the gateway's own origin (SPEC §10: CSRF is the Origin check).
      options: { headers: { cookie: gateway.ready.cookie }, origin: gateway.ready.url },
    },
  ];
  for (const c of contenders) {
    c.runs = [];
    await measure(c, Math.min(trips, 200), Math.min(burst, 2000)); // warm-up (and the proof that it relays)
  }
  for (let round = 0; round < rounds; round++) {
    const order = round % 2 === 0 ? contenders : [...contenders].reverse();
    for (const c of order) c.runs.push(await measure(c, trips, burst));
  }
  report(contenders);
} finally {
  await stopAll();
  clearWatchdog();
}

async function measure(c, tripCount, burstCount) {
  const socket = await open(c.url, c.options);
  try {
    let cpuBefore = await cpuOf(c.process);
    let started = performance.now();
    for (let i = 0; i < tripCount; i++) {
      const echoed = next(socket);
      socket.send(message);
      if ((await echoed).toString() !== message) throw new Error(`${c.key}: the echo differs from what was sent`);
    }
    const tripUs = ((performance.now() - started) * 1000) / tripCount;
    const tripCpuUs = (await cpuOf(c.process) - cpuBefore) / tripCount;

    cpuBefore = await cpuOf(c.process);
    started = performance.now();
    const all = new Promise((resolve) => {
      let left = burstCount;
      const onMessage = () => {
        if (--left > 0) return;
        socket.off('message', onMessage);
        resolve();
      };
      socket.on('message', onMessage);
    });
    for (let i = 0; i < burstCount; i++) socket.send(message);
    await all;
    const perSecond = burstCount / ((performance.now() - started) / 1000);
    const burstCpuUs = (await cpuOf(c.process) - cpuBefore) / burstCount;
    return { tripUs, perSecond, tripCpuUs, burstCpuUs };
  } finally {
    socket.terminate();
  }
}

function open(url, options) {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(url, { perMessageDeflate: false, ...options });
    socket.once('open', () => resolve(socket));
    socket.once('unexpected-response', (_req, res) => reject(new Error(`${url}: handshake answered ${res.statusCode}`)));
    socket.once('error', reject);
  });
}

function next(socket) {
  return new Promise((resolve) => socket.once('message', (data) => resolve(data)));
}

function report([direct, gated]) {
  const lines = [
    `WebSocket relay: ${rounds} interleaved rounds, ${trips} sequential round trips and a burst of ${burst} messages of ${size} B per round`,
    '',
    '| | contender | round trip µs (median, min–max) | burst messages/s (median, min–max) |',
    '|---|---|---:|---:|',
  ];
  for (const c of [direct, gated]) {
    const trip = c.runs.map((r) => r.tripUs);
    const rate = c.runs.map((r) => r.perSecond);
    lines.push(`| ${c.key} | ${c.label} | ${fmt(median(trip), 1)} (${fmt(Math.min(...trip), 1)}–${fmt(Math.max(...trip), 1)}) | ${fmt(median(rate), 0)} (${fmt(Math.min(...rate), 0)}–${fmt(Math.max(...rate), 0)}) |`);
  }
  const ratios = gated.runs.map((r, i) => r.perSecond / direct.runs[i].perSecond);
  const added = gated.runs.map((r, i) => r.tripUs - direct.runs[i].tripUs);
  const cpu = (c, key) => median(c.runs.map((r) => r[key]));
  lines.push(
    '',
    `CPU per message (median over rounds): in round trips the gateway spends ${fmt(cpu(gated, 'tripCpuUs'), 1)} µs per message relayed both ways, the upstream ${fmt(cpu(direct, 'tripCpuUs'), 1)} µs per echo (**${(cpu(gated, 'tripCpuUs') / cpu(direct, 'tripCpuUs')).toFixed(2)}×**); in bursts ${fmt(cpu(gated, 'burstCpuUs'), 2)} µs against ${fmt(cpu(direct, 'burstCpuUs'), 2)} µs (**${(cpu(gated, 'burstCpuUs') / cpu(direct, 'burstCpuUs')).toFixed(2)}×**)`,
  );
  lines.push('', `through Gatehouse: burst throughput **${median(ratios).toFixed(2)}×** of direct (G/D, median of per-round ratios, ${Math.min(...ratios).toFixed(2)}–${Math.max(...ratios).toFixed(2)}); added latency **${fmt(median(added), 1)} µs** per message round trip (G − D, median, ${fmt(Math.min(...added), 1)}–${fmt(Math.max(...added), 1)})`);
  console.log(lines.join('\n'));
}
