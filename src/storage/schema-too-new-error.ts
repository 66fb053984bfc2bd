/**
 * A store whose schema is newer than this code knows (SPEC §8): a newer Gatehouse has migrated it,
 * and this one must not run on tables it does not understand. The message is one sentence naming
 * both versions, shown as it is. The same for every engine (sqlite/ and postgres/ migrations).
 */
export class SchemaTooNewError extends Error {
  readonly code = 'schema_too_new';
  readonly storeVersion: number;
  readonly knownVersion: number;

  constructor(storeVersion: number, knownVersion: number) {
    super(`the store is at schema version ${storeVersion}, newer than this Gatehouse knows (${knownVersion}); upgrade Gatehouse`);
    this.name = 'SchemaTooNewError';
    this.storeVersion = storeVersion;
    this.knownVersion = knownVersion;
  }
}
