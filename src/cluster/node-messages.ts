import { z } from 'zod';

/**
 * What one Gatehouse process tells the others (SPEC §8, docs/decisions/0007-node-messages.md). No
 * message names a session by its id or the id's hash: the hash is the store's lookup key and an
 * unsalted SHA-256 of the cookie, so it stays in the store; a session is named by its handle,
 * which is shown in lists anyway (test/security/session-hash-in-counters.test.ts makes the same
 * point for counters).
 */

/** A handle (security/random.ts newHandle) or a user name: printable, short, no separators. */
const subject = z.string().min(1).max(64).regex(/^[A-Za-z0-9._@-]+$/);
const seq = z.number().int().positive().max(Number.MAX_SAFE_INTEGER);
const nodeId = z.string().regex(/^[A-Za-z0-9_-]{8,64}$/);

const bodySchema = z.union([
  // seq: the revocation log's sequence number of this revocation (cluster/revocation-log.ts).
  z.strictObject({ type: z.literal('revoked'), seq, scope: z.enum(['session', 'user']), subject }),
  z.strictObject({ type: z.literal('revoked'), seq, scope: z.literal('all') }),
  z.strictObject({ type: z.literal('confirmed'), seq, by: nodeId }),
  z.strictObject({ type: z.literal('changed'), what: z.enum(['secrets', 'keys', 'blocks']) }),
  // node: the serving process's registry id; n: its count of alive messages (cluster/channel-probe.ts).
  z.strictObject({ type: z.literal('alive'), node: nodeId, n: z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER) }),
]);

/** What a process announces. */
export type NodeMessageBody =
  | { type: 'revoked'; seq: number; scope: 'session' | 'user'; subject: string }
  | { type: 'revoked'; seq: number; scope: 'all' }
  | { type: 'confirmed'; seq: number; by: string }
  | { type: 'changed'; what: 'secrets' | 'keys' | 'blocks' }
  | { type: 'alive'; node: string; n: number };

/** What is heard: the body and the process it came from. */
export type NodeMessage = NodeMessageBody & { from: string };

/** A cap on what is parsed at all: every valid message is far below it. */
const maxMessageBytes = 1024;

/** The wire form: one JSON object, `from` first. Version 1; a new shape gets a new `v`. */
export function encodeNodeMessage(from: string, body: NodeMessageBody): string {
  return JSON.stringify({ v: 1, from, ...body });
}

/**
 * The message in `text`, or null when it is not one this version knows (malformed, oversized, an
 * unknown type or version, a field too many): such a message is dropped, never half-understood.
 */
export function decodeNodeMessage(text: string): NodeMessage | null {
  if (text.length > maxMessageBytes) return null;
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return null;
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return null;
  const { v, from, ...body } = parsed as Record<string, unknown>;
  if (v !== 1 || !nodeId.safeParse(from).success) return null;
  const result = bodySchema.safeParse(body);
  if (!result.success) return null;
  return { ...(result.data as NodeMessageBody), from: from as string };
}

/** A fresh id for this process: 16 random bytes, base64url. Not a secret; it only tells processes apart. */
export function newNodeId(random: (size: number) => Buffer): string {
  return random(16).toString('base64url');
}
