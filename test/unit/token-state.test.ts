import { describe, expect, it } from 'vitest';
import {
  admitsRequests,
  isTokenState,
  type TokenState,
  type TokenStateSource,
  tokenStateFrom,
  tokenStatus,
  tombstone,
} from '../../src/tokens/state';

const NOW = Date.UTC(2027, 2, 14, 12, 0, 0);

describe('tokenStatus', () => {
  it('is active with no expiry and no revocation', () => {
    expect(tokenStatus({ revokedAt: null, expiresAt: null }, NOW)).toBe('active');
  });

  it('is active until the expiry instant, and expired from it on', () => {
    expect(tokenStatus({ revokedAt: null, expiresAt: NOW + 1 }, NOW)).toBe('active');
    expect(tokenStatus({ revokedAt: null, expiresAt: NOW }, NOW)).toBe('expired');
    expect(tokenStatus({ revokedAt: null, expiresAt: NOW - 1 }, NOW)).toBe('expired');
  });

  it('is revoked whenever revokedAt is set, even when also expired or revoked in the future', () => {
    expect(tokenStatus({ revokedAt: NOW - 10, expiresAt: NOW - 5 }, NOW)).toBe('revoked');
    expect(tokenStatus({ revokedAt: NOW - 10, expiresAt: null }, NOW)).toBe('revoked');
    expect(tokenStatus({ revokedAt: 0, expiresAt: NOW + 86_400_000 }, NOW)).toBe('revoked');
  });
});

describe('tokenStateFrom', () => {
  const row: TokenStateSource = {
    id: 'tok_state_from_1',
    type: 'service',
    expiresAt: NOW + 1000,
    revokedAt: null,
    createdAt: NOW - 5000,
    scopes: '["read","write"]',
    ownerId: 'svc_state_owner_1',
    ownerSubject: null,
    ownerRole: 'admin',
    ownerActive: true,
  };

  it('copies the fields a verification needs, with scopes parsed from JSON', () => {
    expect(tokenStateFrom(row)).toEqual({
      v: 1,
      id: 'tok_state_from_1',
      state: 'active',
      type: 'service',
      exp: NOW + 1000,
      iat: NOW - 5000,
      scopes: ['read', 'write'],
      owner: { id: 'svc_state_owner_1', subject: null, role: 'admin', active: true },
    });
  });

  it('marks a revoked row as revoked and keeps an already-passed expiry as is', () => {
    const state = tokenStateFrom({
      ...row,
      id: 'tok_state_from_2',
      revokedAt: NOW,
      expiresAt: NOW - 1,
      ownerSubject: 'user-sub-2',
      ownerActive: false,
    });
    expect(state.state).toBe('revoked');
    expect(state.exp).toBe(NOW - 1);
    expect(state.owner).toEqual({
      id: 'svc_state_owner_1',
      subject: 'user-sub-2',
      role: 'admin',
      active: false,
    });
  });
});

describe('tombstone', () => {
  it('grants nothing: no scopes, inactive owner without a role above member', () => {
    for (const state of ['revoked', 'deleted'] as const) {
      const stone = tombstone(`tok_tombstone_${state}`, state);
      expect(stone).toMatchObject({ v: 1, id: `tok_tombstone_${state}`, state, scopes: [] });
      expect(stone.owner.active).toBe(false);
      expect(stone.owner.role).toBe('member');
      expect(stone.owner.subject).toBeNull();
    }
  });
});

describe('isTokenState', () => {
  const record: TokenState = {
    v: 1,
    id: 'tok_shape_1',
    state: 'active',
    type: 'personal',
    exp: NOW + 1000,
    iat: NOW - 5000,
    scopes: ['read'],
    owner: { id: 'usr_shape_1', subject: 'shape-1', role: 'member', active: true },
  };

  it('accepts a complete record, a tombstone and one that never expires', () => {
    expect(isTokenState(record)).toBe(true);
    expect(isTokenState(tombstone('tok_shape_2', 'revoked'))).toBe(true);
    expect(isTokenState({ ...record, exp: null, owner: { ...record.owner, subject: null } })).toBe(true);
  });

  it('refuses a record with any field missing or of the wrong type', () => {
    const { exp: _exp, ...withoutExp } = record;
    const { owner: _owner, ...withoutOwner } = record;
    const broken: unknown[] = [
      null,
      'active',
      withoutExp,
      withoutOwner,
      { ...record, v: 2 },
      { ...record, id: 7 },
      { ...record, state: 'valid' },
      { ...record, type: 'robot' },
      { ...record, exp: String(NOW + 1000) },
      { ...record, exp: Number.NaN },
      { ...record, iat: undefined },
      { ...record, scopes: 'read' },
      { ...record, scopes: [1] },
      { ...record, owner: null },
      { ...record, owner: { ...record.owner, id: undefined } },
      { ...record, owner: { ...record.owner, subject: 3 } },
      { ...record, owner: { ...record.owner, role: 'root' } },
      { ...record, owner: { ...record.owner, active: 'yes' } },
    ];
    for (const value of broken) expect(isTokenState(value), JSON.stringify(value)).toBe(false);
  });
});

describe('admitsRequests', () => {
  it('refuses a record whose expiry is not a number rather than treating it as "never"', () => {
    const state = tokenStateFrom({
      id: 'tok_admits_1',
      type: 'personal',
      expiresAt: null,
      revokedAt: null,
      createdAt: NOW,
      scopes: '[]',
      ownerId: 'usr_admits_1',
      ownerSubject: 'admits-1',
      ownerRole: 'member',
      ownerActive: true,
    });
    expect(admitsRequests(state, NOW)).toBe(true);
    expect(admitsRequests({ ...state, exp: undefined } as unknown as TokenState, NOW)).toBe(false);
    expect(admitsRequests({ ...state, exp: String(NOW + 1000) } as unknown as TokenState, NOW)).toBe(false);
  });
});
