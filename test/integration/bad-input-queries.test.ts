import { beforeAll, describe, expect, it } from 'vitest';
import { encodeCursor } from '../../src/lib/cursor';
import { bearer, call, createToken } from '../helpers';
import { type BadInputWorld, badInputWorld, expectRefused, KB, snapshotD1 } from '../reliability-support';
import { expectJson, type TokenPage } from './support';

// Query parameters of every list endpoint: unknown parameters, bad enums, out-of-range, fractional and huge
// numbers, impossible dates, oversize strings and forged cursors. Each is a 400 problem+json naming the
// parameter, never a 5xx, and D1 does not change. A forged cursor that is well formed is simply a position:
// it may answer 200, but never with anyone else's data.

let world: BadInputWorld;

beforeAll(async () => {
  world = await badInputWorld();
});

const b64 = (text: string) => btoa(text).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
const LIMIT = ['0', '-1', '101', '1.5', '1e309', '9007199254740993', 'abc', '', 'NaN', 'Infinity'];
const CURSOR = [
  'abc',
  '!!!',
  'x'.repeat(2 * KB),
  b64('not json'),
  b64('{"s":"-created_at","k":{},"id":"x"}'),
  b64('{"s":"-created_at","k":1,"id":"x","extra":1}'),
  b64('{"s":"other-sort","k":1,"id":"x"}'),
  b64('\u00ff\u00fe'),
  b64(`{"s":"-created_at","k":"${'k'.repeat(500)}","id":"x"}`),
];
const DATES = ['2027-02-30', '2027-13-01', '0000-00-00', '2027-01-01T25:00:00Z', 'yesterday', 'x'.repeat(41)];
const ENUM = ['bogus', '', 'ACTIVE', 'active '];
const LONG_ID = 'i'.repeat(65);

/** Parameter → bad values, per endpoint; every endpoint also gets `limit`, `cursor` and unknown parameters. */
const PARAMS: Record<string, Record<string, string[]>> = {
  '/tokens': {
    status: ENUM,
    sort: ENUM,
    q: ['q'.repeat(101), 'q'.repeat(10 * KB)],
    expiring_within_days: ['-1', '0', '', '3651', '1.5', '1e309', 'abc'],
  },
  '/audit': {},
  '/admin/tokens': {
    owner_id: [LONG_ID],
    type: ENUM,
    status: ENUM,
    sort: ENUM,
    q: ['q'.repeat(101)],
    expiring_before: DATES,
    last_used_before: DATES,
  },
  '/admin/service-accounts': { q: ['q'.repeat(101)], active: ['yes', '1', 'TRUE', ''] },
  '/admin/users': { q: ['q'.repeat(101)], active: ['yes', '1', 'TRUE', ''] },
  '/admin/audit': {
    actor_id: [LONG_ID],
    target_id: [LONG_ID],
    action: ['a'.repeat(65)],
    since: DATES,
    until: DATES,
  },
  '/admin/service-accounts/{account}/tokens': { sort: ENUM },
};

function pathOf(template: string): string {
  return template.replace('{account}', world.account.id);
}

const authFor = (template: string) => (template.startsWith('/admin') ? world.admin.auth : world.member.auth);

describe('bad query parameters', () => {
  it.each(Object.keys(PARAMS))('GET %s', async (template) => {
    const cases: [string, string, string][] = [
      ['unknown parameter', 'bogus=1', 'bogus'],
      ['__proto__ parameter', '__proto__=1', '__proto__'],
      ['repeated limit', 'limit=1&limit=2', 'limit'],
      ...LIMIT.map((v): [string, string, string] => [
        `limit=${v}`,
        `limit=${encodeURIComponent(v)}`,
        'limit',
      ]),
      ...CURSOR.map((v, i): [string, string, string] => [`forged cursor #${i}`, `cursor=${v}`, 'cursor']),
    ];
    for (const [param, values] of Object.entries(PARAMS[template]!)) {
      for (const v of values)
        cases.push([`${param}=${v.slice(0, 20)}`, `${param}=${encodeURIComponent(v)}`, param]);
    }
    const before = await snapshotD1();
    for (const [label, query, field] of cases) {
      const res = await call(`/api/v1${pathOf(template)}?${query}`, { headers: authFor(template) });
      await expectRefused(res, { field, label: `${template} ${label}` });
    }
    expect(await snapshotD1()).toEqual(before);
  });
});

// The longest search allowed, in characters that take several bytes: D1 refuses LIKE patterns over 50 bytes, so a
// search built on LIKE would answer 503 here.
describe('the longest allowed search', () => {
  it.each(['/tokens', '/admin/tokens', '/admin/service-accounts', '/admin/users'])(
    'GET %s',
    async (template) => {
      const q = 'é€😀'.repeat(25).slice(0, 100);
      const res = await call(`/api/v1${template}?q=${encodeURIComponent(q)}`, { headers: authFor(template) });
      expect(res.status, await res.clone().text()).toBe(200);
    },
  );
});

describe('well-formed but forged cursors', () => {
  it('a cursor with hostile keys pages only through the caller’s own tokens', async () => {
    const mine = await createToken(world.member.jwt);
    const other = await createToken(world.target.jwt);
    const forged = [
      { s: '-created_at', k: Number.MAX_SAFE_INTEGER, id: "' OR 1=1 --" },
      { s: '-created_at', k: Number.MAX_SAFE_INTEGER, id: 'zzzz' },
      { s: 'name', k: "' OR ''='", id: 'x' },
      { s: '-created_at', k: -1e308, id: '' },
    ];
    let sawMine = false;
    for (const cursor of forged) {
      const query = new URLSearchParams({ sort: cursor.s, cursor: encodeCursor(cursor), limit: '100' });
      const res = await call(`/api/v1/tokens?${query}`, { headers: bearer(world.member.jwt) });
      if (res.status !== 200) {
        await expectRefused(res, { field: 'cursor' });
        continue;
      }
      const page = await expectJson<TokenPage>(res, 200);
      expect(page.data.map((t) => t.owner_id)).not.toContain(other.owner_id);
      expect(page.data.every((t) => t.owner_id === mine.owner_id)).toBe(true);
      sawMine ||= page.data.some((t) => t.id === mine.id);
    }
    // The forged positions were really used as positions (not all refused), so the check above means something.
    expect(sawMine).toBe(true);
  });
});
