import { CidrSet } from './address.js';

/** `ipRules` (SPEC §3, §5): deny always wins; a non-empty allow list admits only its members. */
export class IpRules {
  readonly #allow: CidrSet;
  readonly #deny: CidrSet;

  constructor(rules: { allow: readonly string[]; deny: readonly string[] }) {
    this.#allow = new CidrSet(rules.allow);
    this.#deny = new CidrSet(rules.deny);
  }

  admits(ip: string): boolean {
    if (this.#deny.has(ip)) return false;
    return this.#allow.size === 0 || this.#allow.has(ip);
  }
}
