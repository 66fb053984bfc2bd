/**
 * What a log line may say of a store or channel error: its class name and its code (a PostgreSQL
 * SQLSTATE, a Node.js errno such as ECONNREFUSED), never its message, which a driver may fill with
 * the connection string, its user, host or password.
 */
export function errorFields(error: unknown): { name: string; code?: string } {
  const name = error instanceof Error ? error.name : 'Error';
  const code = typeof error === 'object' && error !== null && 'code' in error && typeof error.code === 'string' ? error.code : undefined;
  return code === undefined ? { name } : { name, code };
}
