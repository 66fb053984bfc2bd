import type { GatewayConfig } from '../../config/schema.js';

const mask = '••••••';

/**
 * The running configuration as the console shows it. Secret values never sit in the file (upstreams
 * name stored secrets), but a store or Redis URL may carry a password, and the master key sources
 * say where the key is: both are masked (SPEC §11, "the running configuration with secrets masked").
 */
export function maskedConfig(config: GatewayConfig): unknown {
  return walk(config, '');
}

function walk(value: unknown, key: string): unknown {
  if (key === 'masterKey') return Array.isArray(value) ? value.map(() => mask) : mask;
  if (typeof value === 'string') return maskUrlCredentials(value);
  if (Array.isArray(value)) return value.map((item) => walk(item, ''));
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, walk(v, k)]));
  }
  return value;
}

function maskUrlCredentials(text: string): string {
  if (!/^[a-z][a-z0-9+.-]*:\/\/[^/]*@/i.test(text)) return text;
  try {
    const url = new URL(text);
    if (url.password !== '') url.password = mask;
    else if (url.username !== '') url.username = mask;
    return url.toString();
  } catch {
    return mask;
  }
}
