import { ROLES, type Role } from '../config';

// The compact record that the caches (isolate memory and KV) hold for a token, keyed by the token's hash.
// It carries everything a verification decides on, so expiry and owner state are checked on every request
// and a cache TTL can never extend a token's life.

export type TokenStatus = 'active' | 'expired' | 'revoked';

/** Status is derived one way everywhere: Revoked if revoked, else Expired if expires_at ≤ now, else Active. */
export function tokenStatus(
  token: { revokedAt: number | null; expiresAt: number | null },
  now: number,
): TokenStatus {
  if (token.revokedAt !== null) return 'revoked';
  if (token.expiresAt !== null && token.expiresAt <= now) return 'expired';
  return 'active';
}

export interface TokenState {
  /** Record format version. */
  v: 1;
  id: string;
  /** `active`, or a tombstone: `revoked` / `deleted` (KV caches "not found", so deletions overwrite). */
  state: 'active' | 'revoked' | 'deleted';
  type: 'personal' | 'service';
  /** Expiry in epoch ms, or null for never. */
  exp: number | null;
  /** Creation time in epoch ms (introspection's `iat`). */
  iat: number;
  scopes: string[];
  owner: {
    id: string;
    /** The identity provider's subject for users; null for service accounts. */
    subject: string | null;
    role: Role;
    active: boolean;
  };
}

export interface TokenStateSource {
  id: string;
  type: 'personal' | 'service';
  expiresAt: number | null;
  revokedAt: number | null;
  createdAt: number;
  scopes: string;
  ownerId: string;
  ownerSubject: string | null;
  ownerRole: Role;
  ownerActive: boolean;
}

export function tokenStateFrom(row: TokenStateSource): TokenState {
  return {
    v: 1,
    id: row.id,
    state: row.revokedAt === null ? 'active' : 'revoked',
    type: row.type,
    exp: row.expiresAt,
    iat: row.createdAt,
    scopes: JSON.parse(row.scopes) as string[],
    owner: { id: row.ownerId, subject: row.ownerSubject, role: row.ownerRole, active: row.ownerActive },
  };
}

const isString = (value: unknown): value is string => typeof value === 'string';

/**
 * True when `value` has every field of a TokenState with the right type. KV is read as untrusted input (a
 * truncated, hand-edited or other-format record): one that fails this is ignored, and D1 decides.
 */
export function isTokenState(value: unknown): value is TokenState {
  const v = value as Partial<Record<keyof TokenState, unknown>> | null;
  if (typeof v !== 'object' || v === null || v.v !== 1) return false;
  const owner = v.owner as Partial<Record<keyof TokenState['owner'], unknown>> | null;
  return (
    isString(v.id) &&
    (v.state === 'active' || v.state === 'revoked' || v.state === 'deleted') &&
    (v.type === 'personal' || v.type === 'service') &&
    (v.exp === null || Number.isFinite(v.exp)) &&
    Number.isFinite(v.iat) &&
    Array.isArray(v.scopes) &&
    v.scopes.every(isString) &&
    typeof owner === 'object' &&
    owner !== null &&
    isString(owner.id) &&
    (owner.subject === null || isString(owner.subject)) &&
    (ROLES as readonly unknown[]).includes(owner.role) &&
    typeof owner.active === 'boolean'
  );
}

/** True when a request with this record may pass: active, not expired, and (for personal tokens) an active owner. */
export function admitsRequests(state: TokenState, now: number): boolean {
  return (
    state.state === 'active' &&
    // Not `exp !== null && exp <= now`: an exp that is not a number (never from D1) must not mean "never".
    (state.exp === null || (typeof state.exp === 'number' && state.exp > now)) &&
    (state.owner.active || state.type !== 'personal')
  );
}

export function tombstone(id: string, state: 'revoked' | 'deleted'): TokenState {
  return {
    v: 1,
    id,
    state,
    type: 'personal',
    exp: null,
    iat: 0,
    scopes: [],
    owner: { id: '', subject: null, role: 'member', active: false },
  };
}
