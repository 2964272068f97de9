import { beforeAll, describe, expect, it } from 'vitest';
import {
  type BadInputWorld,
  badInputWorld,
  expectRefused,
  JSON_ENDPOINT_LABELS,
  jsonEndpoint,
  KB,
  MB,
  sendJson,
  snapshotD1,
} from '../reliability-support';

// Field by field, for every JSON endpoint: wrong types, missing required fields, oversize strings (10 KB, 1 MB),
// control characters, impossible dates, negative, zero, fractional and huge numbers (1e309, 2^53+1). Each is a
// 4xx problem+json whose `errors` name the field (`scopes.0` for an array element), and D1 does not change.
// Unicode that is not text (lone surrogates) and invisible-only names are in bad-input-unicode.test.ts.

let world: BadInputWorld;

beforeAll(async () => {
  world = await badInputWorld();
});

type Kind =
  | 'name'
  | 'text'
  | 'label'
  | 'days'
  | 'date'
  | 'scopes'
  | 'role'
  | 'user'
  | 'email'
  | 'secret'
  | 'list255'
  | 'ids';
/** [label, JSON text of the value, suffix of the field the error names ('' = the field itself)]. */
type Value = [label: string, raw: string, suffix?: string];

const s = (value: string) => JSON.stringify(value);
const TYPES: Value[] = [
  ['number', '123'],
  ['boolean', 'true'],
  ['array', '[]'],
  ['object', '{}'],
];
const BIG: Value[] = [
  ['10 KB', s('x'.repeat(10 * KB))],
  ['1 MB', s('x'.repeat(MB))],
];
const CONTROL: Value[] = [
  ['NUL', s('a\u0000b')],
  ['ESC', s('\u001b[2J')],
  ['DEL and C1', s('a\u007f\u009bb')],
];
const list = (n: number, item: string) => `[${Array(n).fill(item).join(',')}]`;

const VALUES: Record<Kind, Value[]> = {
  name: [
    ...TYPES,
    ['null', 'null'],
    ['blank', s('')],
    ['spaces', s('   \t ')],
    ['101 characters', s('n'.repeat(101))],
    ...BIG,
    ...CONTROL,
    ['newline', s('a\nb')],
    ['line separator', s('a\u2028b')],
  ],
  text: [...TYPES, ['501 characters', s('d'.repeat(501))], ...BIG, ...CONTROL],
  label: [...TYPES, ['101 characters', s('d'.repeat(101))], ...BIG],
  days: [
    ...TYPES.slice(1),
    ['null', 'null'],
    ['string', s('7')],
    ['negative', '-1'],
    ['zero', '0'],
    ['fraction', '1.5'],
    ['over the policy', '366'],
    ['over the schema', '3651'],
    ['1e309', '1e309'],
    ['2^53+1', '9007199254740993'],
    ['-2^53-1', '-9007199254740993'],
    ['tiny', '1e-7'],
  ],
  date: [
    ...TYPES,
    ['null (policy requires one)', 'null'],
    ['Feb 30', s('2027-02-30')],
    ['month 13', s('2027-13-01')],
    ['0000-00-00', s('0000-00-00')],
    ['hour 25', s('2027-01-01T25:00:00Z')],
    ['no offset', s('2027-01-01T00:00:00')],
    ['words', s('tomorrow')],
    ['empty', s('')],
    ['the past', s('2000-01-01')],
    ['year 9999', s('9999-12-31')],
    ['year 275760', s('+275760-09-13')],
    ...BIG,
    ['NUL', s('2027-01-01\u0000')],
  ],
  scopes: [
    ['a string', s('read')],
    ['a number', '1'],
    ['number element', '[1]', '.0'],
    ['null element', '[null]', '.0'],
    ['unknown scope', '["root"]', '.0'],
    ['65-character scope', `[${s('r'.repeat(65))}]`, '.0'],
    ['1 MB scope', `[${s('r'.repeat(MB))}]`, '.0'],
    ['51 scopes', list(51, s('read'))],
    ['NUL in a scope', `[${s('read\u0000')}]`, '.0'],
  ],
  role: [
    ['unknown', s('root')],
    ['wrong case', s('ADMIN')],
    ['padded', s('admin ')],
    ['number', '1'],
    ['null', 'null'],
    ['array', '["admin"]'],
  ],
  user: [
    ...TYPES,
    ['null', 'null'],
    ['empty', s('')],
    ['space inside', s('a b')],
    ['65 characters', s('u'.repeat(65))],
    ...BIG,
    ['NUL', s('a\u0000')],
    ['non-ASCII', s('ålice')],
  ],
  email: [
    ...TYPES,
    ['not an address', s('not-an-address')],
    ['NUL', s('a@b.test\u0000')],
    ['10 KB', s(`${'e'.repeat(10 * KB)}@x.test`)],
  ],
  secret: [
    ...TYPES,
    ['null', 'null'],
    ['empty', s('')],
    ['256 characters', s('p'.repeat(256))],
    ['1 MB', s('p'.repeat(MB))],
  ],
  list255: [
    ['a string', s('pat_x')],
    ['empty', '[]'],
    ['1001 items', list(1001, s('x'))],
    ['number element', '[1]', '.0'],
    ['null element', '[null]', '.0'],
    ['256-character item', `[${s('c'.repeat(256))}]`, '.0'],
    ['1 MB item', `[${s('c'.repeat(MB))}]`, '.0'],
  ],
  ids: [
    ['a string', s('tok_x')],
    ['empty', '[]'],
    ['1001 items', list(1001, s('tok_x'))],
    ['number element', '[1]', '.0'],
    ['null element', '[null]', '.0'],
    ['65-character id', `[${s('t'.repeat(65))}]`, '.0'],
  ],
};

const TOKEN_FIELDS: [string, Kind][] = [
  ['name', 'name'],
  ['description', 'text'],
  ['expires_in_days', 'days'],
  ['expires_at', 'date'],
  ['scopes', 'scopes'],
];
const ACCOUNT_FIELDS: [string, Kind][] = [
  ['name', 'name'],
  ['description', 'text'],
  ['role', 'role'],
];
/** The fields of each endpoint; the required ones are also tried missing. */
const FIELDS: Record<string, { fields: [string, Kind][]; required: string[] }> = {
  'POST /tokens': { fields: TOKEN_FIELDS, required: ['name'] },
  'PATCH /tokens/{token}': { fields: TOKEN_FIELDS.slice(0, 4), required: [] },
  'POST /tokens/{token}/rotate': { fields: TOKEN_FIELDS.slice(2, 4), required: [] },
  'POST /dev/session': {
    fields: [
      ['user', 'user'],
      ['role', 'role'],
      ['name', 'label'],
      ['email', 'email'],
    ],
    required: ['user'],
  },
  'POST /credentials/revoke': { fields: [['credentials', 'list255']], required: ['credentials'] },
  'POST /admin/tokens/lookup': { fields: [['token', 'secret']], required: ['token'] },
  'POST /admin/tokens/bulk-revoke': { fields: [['ids', 'ids']], required: ['ids'] },
  'POST /admin/service-accounts': { fields: ACCOUNT_FIELDS, required: ['name'] },
  'PATCH /admin/service-accounts/{account}': { fields: ACCOUNT_FIELDS, required: [] },
  'POST /admin/service-accounts/{account}/tokens': { fields: TOKEN_FIELDS, required: ['name'] },
};

/** The endpoint's valid body with `field` set to `raw` (or removed when raw is null), as JSON text. */
function bodyWith(valid: Record<string, unknown>, field: string, raw: string | null): string {
  // expires_at and expires_in_days exclude each other: drop the sibling so the error is about this field.
  const sibling = { expires_at: 'expires_in_days', expires_in_days: 'expires_at' }[field];
  const rest = Object.entries(valid).filter(([key]) => key !== field && key !== sibling);
  const parts = rest.map(([key, value]) => `${s(key)}:${JSON.stringify(value)}`);
  if (raw !== null) parts.push(`${s(field)}:${raw}`);
  return `{${parts.join(',')}}`;
}

describe('every field of every JSON endpoint refuses bad values', () => {
  it('the table covers every JSON endpoint', () => {
    expect(Object.keys(FIELDS).sort()).toEqual([...JSON_ENDPOINT_LABELS].sort());
  });

  it.each(JSON_ENDPOINT_LABELS)('%s', async (label) => {
    const endpoint = jsonEndpoint(world, label);
    const { fields, required } = FIELDS[label]!;
    const cases: [string, string, string][] = required.map((f) => [
      `${f} missing`,
      bodyWith(endpoint.valid, f, null),
      f,
    ]);
    for (const [field, kind] of fields) {
      for (const [name, raw, suffix = ''] of VALUES[kind]) {
        cases.push([`${field}: ${name}`, bodyWith(endpoint.valid, field, raw), field + suffix]);
      }
    }
    const before = await snapshotD1();
    for (const [name, body, field] of cases) {
      await expectRefused(await sendJson(endpoint, body), { field, label: `${label} ${name}` });
      expect(await snapshotD1(), `${label} ${name}`).toEqual(before);
    }
  });

  it('POST /tokens with both expires_at and expires_in_days names expires_at', async () => {
    const endpoint = jsonEndpoint(world, 'POST /tokens');
    const body = JSON.stringify({ name: 'both', expires_at: '2027-01-01', expires_in_days: 7 });
    await expectRefused(await sendJson(endpoint, body), { field: 'expires_at' });
  });

  it('POST /dev/session refuses control characters in name', async () => {
    const endpoint = jsonEndpoint(world, 'POST /dev/session');
    for (const [, raw] of CONTROL) {
      await expectRefused(await sendJson(endpoint, bodyWith(endpoint.valid, 'name', raw)), { field: 'name' });
    }
  });
});
