/**
 * Why an assertion was refused: stable codes, each with the HTTP status the middleware answers and
 * a message that is safe to show (it never contains the token or a claim value). A retired code is
 * never reused.
 */
export const refusalReasons = {
  missing: { status: 401, message: 'This API is reached through Gatehouse only: the Gatehouse-Assertion header is missing.' },
  malformed: { status: 401, message: 'The Gatehouse-Assertion header is not a well-formed Gatehouse assertion.' },
  bad_signature: { status: 401, message: 'The Gatehouse-Assertion signature does not verify.' },
  expired: { status: 401, message: 'The Gatehouse-Assertion has expired.' },
  not_yet_valid: { status: 401, message: 'The Gatehouse-Assertion is issued in the future; check the clocks.' },
  wrong_issuer: { status: 401, message: 'The Gatehouse-Assertion comes from another issuer.' },
  wrong_audience: { status: 401, message: 'The Gatehouse-Assertion is meant for another upstream.' },
  wrong_method: { status: 401, message: 'The Gatehouse-Assertion was issued for another HTTP method.' },
  wrong_url: { status: 401, message: 'The Gatehouse-Assertion was issued for another URL.' },
  replayed: { status: 401, message: 'The Gatehouse-Assertion has already been used.' },
  unknown_key: { status: 401, message: 'The Gatehouse-Assertion is signed with a key the gateway does not publish.' },
  jwks_unavailable: { status: 503, message: 'The gateway\'s signing keys could not be fetched; try again shortly.' },
  replay_cache_full: { status: 503, message: 'Too many assertions to track right now; try again shortly.' },
} as const satisfies Record<string, { status: number; message: string }>;

export type RefusalReason = keyof typeof refusalReasons;
