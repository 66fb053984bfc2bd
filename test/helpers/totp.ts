import { Secret, TOTP } from 'otpauth';

/** The code an authenticator app would show for `secret` (base32) at `at` ms, `steps` steps away. */
export function totpCode(secret: string, at: number, steps = 0): string {
  const totp = new TOTP({ secret: Secret.fromBase32(secret), algorithm: 'SHA1', digits: 6, period: 30 });
  return totp.generate({ timestamp: at + steps * 30_000 });
}
