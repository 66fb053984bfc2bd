/**
 * Where a process's CPU time went, from `node --cpu-prof` profiles: the functions with the most
 * self time (time on the stack top), and with the most total time (self + what they called),
 * summed over every node of the same function (name, file, line).
 *
 *   node bench/lib/cpu-profile-summary.mjs PROFILE.cpuprofile [...] [--top 25] [--filter TEXT]
 *
 * `--filter` keeps only functions whose name or file contains TEXT (e.g. `dist/src` for
 * Gatehouse's own code) in the lists; the percentages stay shares of all sampled time.
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from './harness.mjs';

const argv = process.argv.slice(2);
const args = parseArgs(argv);
const top = Number(args.top ?? 25);
const filter = typeof args.filter === 'string' ? args.filter : null;
const files = argv.filter((arg, i) => !arg.startsWith('--') && !(i > 0 && argv[i - 1].startsWith('--')));
if (files.length === 0) {
  console.error('usage: node bench/lib/cpu-profile-summary.mjs PROFILE.cpuprofile [...] [--top 25] [--filter TEXT]');
  process.exit(1);
}

const self = new Map();
const total = new Map();
let sampled = 0;
for (const file of files) {
  const profile = JSON.parse(readFileSync(file, 'utf8'));
  const nodes = new Map(profile.nodes.map((node) => [node.id, node]));
  const parents = new Map();
  for (const node of profile.nodes) for (const child of node.children ?? []) parents.set(child, node.id);
  // Each sample's duration is the gap to the next one (timeDeltas[i + 1]).
  const hits = new Map();
  for (let i = 0; i < profile.samples.length; i++) {
    const us = profile.timeDeltas[i + 1] ?? 0;
    hits.set(profile.samples[i], (hits.get(profile.samples[i]) ?? 0) + us);
    sampled += us;
  }
  for (const [id, us] of hits) {
    const node = nodes.get(id);
    add(self, keyOf(node), us);
    // Total time: once per function on the sample's stack (recursion counted once).
    const seen = new Set();
    for (let at = id; at !== undefined; at = parents.get(at)) {
      const key = keyOf(nodes.get(at));
      if (seen.has(key)) continue;
      seen.add(key);
      add(total, key, us);
    }
  }
}

function keyOf(node) {
  const { functionName, url, lineNumber } = node.callFrame;
  const where = url ? `${url.replace(/^file:\/\//, '').replace(process.cwd() + '/', '')}:${lineNumber + 1}` : '';
  return `${functionName || '(anonymous)'} ${where}`.trim();
}

function add(map, key, us) {
  map.set(key, (map.get(key) ?? 0) + us);
}

function print(title, map) {
  console.log(`\n${title}`);
  const rows = [...map].filter(([key]) => filter === null || key.includes(filter)).sort((a, b) => b[1] - a[1]).slice(0, top);
  for (const [key, us] of rows) console.log(`${((100 * us) / sampled).toFixed(1).padStart(5)} %  ${(us / 1000).toFixed(0).padStart(7)} ms  ${key}`);
}

console.log(`${files.length} profile(s), ${(sampled / 1000).toFixed(0)} ms sampled`);
print('self time', self);
print('total time (self + callees)', total);
