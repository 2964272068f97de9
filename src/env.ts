import type { DrizzleD1Database } from 'drizzle-orm/d1';
import type { RequestContext } from './audit';
import type { Principal } from './auth/principals';
import type { Config } from './config';

/** Bindings and vars the Worker receives (see wrangler.toml). Vars are validated by src/config.ts. */
export interface Env {
  DB: D1Database;
  TOKEN_CACHE: KVNamespace;
  [variable: string]: unknown;
}

/** Who is calling the management API, and how they proved it. */
export interface Caller {
  principal: Principal;
  via: 'jwt' | 'pat';
  /** The PAT's id when `via` is `pat`. */
  tokenId: string | null;
}

export interface AppEnv {
  Bindings: Env;
  Variables: {
    config: Config;
    db: DrizzleD1Database;
    requestId: string;
    caller: Caller;
    audit: RequestContext;
    /** Set when the response is the upstream's: the gateway then leaves its headers alone. */
    proxied: boolean;
  };
}
