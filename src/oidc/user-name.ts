import type { RandomBytes } from '../security/random.js';

/**
 * The name of a user a provider's first login creates: `<provider>.<preferred_username, e-mail
 * local part or sub>`, cut to the user-name alphabet and 64 characters, `-2`, `-3`… when taken, a
 * random tail after 10 tries. Only a label: the user is found by (issuer, sub), never by this name,
 * so a local user of the same name is never reused (a taken name is simply skipped).
 */
export function providerUserName(provider: string, claims: Record<string, unknown>, subject: string, attempt: number, random: RandomBytes): string {
  const email = typeof claims.email === 'string' ? claims.email.split('@')[0] : undefined;
  const base = [claims.preferred_username, email, subject].find((v): v is string => typeof v === 'string' && clean(v) !== '') ?? 'user';
  const suffix = attempt === 1 ? '' : attempt <= 10 ? `-${attempt}` : `-${random(6).toString('hex')}`;
  return `${provider}.${clean(base)}`.slice(0, 64 - suffix.length) + suffix;
}

function clean(value: string): string {
  return value.replace(/[^A-Za-z0-9._-]/g, '').slice(0, 64);
}
