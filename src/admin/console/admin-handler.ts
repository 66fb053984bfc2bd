import type { IncomingMessage, ServerResponse } from 'node:http';

/** What the admin listener (src/admin/admin-server.ts, built beside this) knows of a request before any handler. */
export interface AdminRequestContext {
  /** The client's address as the listener reads it (the socket's; the admin listener trusts no proxy). */
  ip: string;
  requestId: string;
}

/** One part of the admin listener: answers a request (true) or leaves it to the next handler (false). */
export type AdminHandler = (req: IncomingMessage, res: ServerResponse, ctx: AdminRequestContext) => Promise<boolean>;
