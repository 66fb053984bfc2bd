import { describe, expect, it } from 'vitest';
import { mapRoles } from './role-rules.js';

const rules = [
  { role: 'admin', claim: 'groups', includes: 'gatehouse-admins' },
  { role: 'user', claim: 'email_verified', equals: true },
  { role: 'ops', claim: 'realm_access.roles', includes: 'ops' },
  { role: 'staff', claim: 'department', includes: 'it' },
];

describe('mapRoles (SPEC §9 roles rules)', () => {
  it('maps list membership, exact equality, nested claims and a string claim', () => {
    expect(mapRoles(rules, { groups: ['x', 'gatehouse-admins'], email_verified: true })).toEqual(['admin', 'user']);
    expect(mapRoles(rules, { realm_access: { roles: ['ops'] }, department: 'it' })).toEqual(['ops', 'staff']);
  });

  it('maps nothing on near misses: a string "true", a longer group name, a comma-joined string, a missing claim, an inherited property', () => {
    expect(mapRoles(rules, { groups: ['gatehouse-admins-2'], email_verified: 'true', department: ['it'] })).toEqual(['staff']);
    expect(mapRoles(rules, { groups: 'gatehouse-admins,other' })).toEqual([]);
    expect(mapRoles(rules, {})).toEqual([]);
    expect(mapRoles(rules, { 'realm_access': { roles: 'ops-team' }, __proto__: { groups: ['gatehouse-admins'] } })).toEqual([]);
  });
});
