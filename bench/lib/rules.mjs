/**
 * The rate rules `npm run bench` measures (bench/run.mjs, bench/rules-micro.mjs). Limits far above
 * what a run can reach (~4,000 req/s × 60 s): each rule is evaluated on every benchmarked request
 * (GET /api/…, with a session) and never triggers. Per request (src/rules/rate-rules.ts):
 *  - per-session: a sliding-window `take` on the session's key, reject past max;
 *  - per-user: a `take` on the user's key, block for 1m past max;
 *  - ip-5xx: a status rule counting the address's 5xx responses, block for 1m past max. It counts
 *    nothing on a 200, but with it the gateway looks up the address's block early on every request
 *    and observes every response's status;
 *  - and, with any rule at all, check() looks up the session's and the user's block first.
 * @param {Record<string, number>} maxOf a lower `max` for some rules (the liveness variants)
 */
export function activeRules(maxOf = {}) {
  return [
    { name: 'per-session', match: '/api/**', by: 'session', max: maxOf['per-session'] ?? 10_000_000, per: '1m', action: 'reject' },
    { name: 'per-user', match: '/api/**', by: 'user', max: maxOf['per-user'] ?? 10_000_000, per: '1m', action: 'block', for: '1m' },
    { name: 'ip-5xx', match: { path: '/api/**', status: '5xx' }, by: 'ip', max: maxOf['ip-5xx'] ?? 10_000_000, per: '1m', action: 'block', for: '1m' },
  ];
}

/** Rules that count requests (not responses): after a round, each holds one hit per request. */
export const requestRules = activeRules().filter((rule) => typeof rule.match === 'string' || rule.match.status === undefined).map((rule) => rule.name);
