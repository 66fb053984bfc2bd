import { readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

const demoConfig = resolve(import.meta.dirname, '../../demo/gatehouse.yaml');
const siteDir = resolve(import.meta.dirname, '../../demo/site');

/**
 * demo/gatehouse.yaml itself, moved to free ports and to `dir` (its data folder and the written
 * file, gatehouse.yaml): the path of the copy. Throws when the demo config has changed so that a
 * port or the data folder would be left as they are.
 */
export function writeDemoConfig(dir: string, ports: { gateway: number; upstream: number; provider: number }): string {
  const text = readFileSync(demoConfig, 'utf8')
    .replaceAll('port: 8080', `port: ${ports.gateway}`)
    .replaceAll('localhost:8080', `localhost:${ports.gateway}`)
    .replaceAll('127.0.0.1:9000', `127.0.0.1:${ports.upstream}`)
    .replaceAll('127.0.0.1:9001', `127.0.0.1:${ports.provider}`)
    .replaceAll('../data/', './')
    .replace(/^static: .*$/m, `static: ${JSON.stringify(siteDir)}`);
  const settings = text.split('\n').map((line) => line.replace(/(^|\s)#.*$/, '')).join('\n');
  for (const left of ['8080', '9000', '9001', '../data']) if (settings.includes(left)) throw new Error(`demo/gatehouse.yaml changed: ${left} is still in the test's copy`);
  const file = join(dir, 'gatehouse.yaml');
  writeFileSync(file, text);
  return file;
}
