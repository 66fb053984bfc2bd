import type { RoleRuleConfig } from '../config/schema.js';

/**
 * The Gatehouse roles a provider's claims map to (SPEC §9 `roles`): the ID token's and userinfo's
 * claims merged (the ID token's win: it is signed), each rule read against one claim. A claim name
 * with dots reaches into objects when no claim has that exact name (Keycloak's
 * `realm_access.roles`). `includes`: a list claim holding the value, or a string claim equal to
 * it; `equals`: the claim is exactly the value. Sorted, without repeats.
 */
export function mapRoles(rules: readonly RoleRuleConfig[], claims: Readonly<Record<string, unknown>>): string[] {
  const roles = new Set<string>();
  for (const rule of rules) {
    const value = claimValue(claims, rule.claim);
    if (rule.includes !== undefined) {
      if (Array.isArray(value) ? value.includes(rule.includes) : value === rule.includes) roles.add(rule.role);
    } else if (value === rule.equals) {
      roles.add(rule.role);
    }
  }
  return [...roles].sort();
}

function claimValue(claims: Readonly<Record<string, unknown>>, name: string): unknown {
  if (Object.hasOwn(claims, name)) return claims[name];
  let current: unknown = claims;
  for (const part of name.split('.')) {
    if (current === null || typeof current !== 'object' || Array.isArray(current) || !Object.hasOwn(current, part)) return undefined;
    current = (current as Record<string, unknown>)[part];
  }
  return current;
}

/** The same set of roles, in any order. */
export function sameRoles(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && [...a].sort().every((role, i) => role === [...b].sort()[i]);
}
