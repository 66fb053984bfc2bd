/**
 * The little of oidc-provider's API the test fixture uses (the package ships no types of its own).
 * https://github.com/panva/node-oidc-provider/blob/main/docs/README.md
 */
declare module 'oidc-provider' {
  import type { IncomingMessage, ServerResponse } from 'node:http';

  export interface InteractionDetails {
    uid: string;
    prompt: { name: string; details: Record<string, unknown> };
    params: Record<string, string | undefined>;
    session?: { accountId?: string };
  }

  export class GrantModel {
    constructor(init: { accountId: string; clientId: string });
    addOIDCScope(scope: string): void;
    save(): Promise<string>;
  }

  /** An access token in the provider's store (lib/models/access_token.js). */
  export class AccessTokenModel {
    constructor(init: Record<string, unknown>);
    static find(value: string): Promise<AccessTokenModel | undefined>;
    accountId: string;
    clientId: string;
    grantId: string;
    gty?: string;
    aud?: string;
    scope?: string;
    sessionUid?: string;
    expiresWithSession?: boolean;
    expiresIn?: number;
    readonly expiration: number;
    readonly isExpired: boolean;
    setAudience(audience: string): void;
    save(): Promise<string>;
  }

  /** The token endpoint's errors (lib/helpers/errors.js): each answers 400 with its `error` code. */
  export const errors: {
    InvalidRequest: new (description?: string) => Error;
    InvalidGrant: new (detail?: string) => Error;
    InvalidTarget: new (description?: string) => Error;
    InvalidScope: new (description?: string, scope?: string) => Error;
  };

  export default class Provider {
    constructor(issuer: string, configuration: Record<string, unknown>);
    Grant: typeof GrantModel & { find(id: string): Promise<GrantModel | undefined> };
    AccessToken: typeof AccessTokenModel;
    registerGrantType(name: string, handler: (ctx: any) => Promise<void>, params?: string[]): void;
    proxy: boolean;
    callback(): (req: IncomingMessage, res: ServerResponse) => void;
    interactionDetails(req: IncomingMessage, res: ServerResponse): Promise<InteractionDetails>;
    interactionFinished(req: IncomingMessage, res: ServerResponse, result: Record<string, unknown>, options?: { mergeWithLastSubmission?: boolean }): Promise<void>;
    on(event: string, listener: (...args: any[]) => void): this;
    /** A Koa middleware around every request (https://github.com/panva/node-oidc-provider/blob/main/docs/README.md#pre--and-post-middlewares). */
    use(middleware: (ctx: any, next: () => Promise<void>) => Promise<void>): void;
  }
}
