import type { RefusalAudit } from '../audit/refusal-audit.js';
import type { AdminServerOptions } from './admin-server.js';

/** The admin listener's refusals by `admin.allow`, audited like every refusal: at most once per address and minute (SPEC §6). */
export function auditedAllowRefusals(refusals: RefusalAudit): AdminServerOptions {
  return {
    refused: async (ip, requestId) => {
      await refusals.record('ip_blocked', 'admin_allow', { user: null, ip, requestId }, { listener: 'admin' });
    },
  };
}
