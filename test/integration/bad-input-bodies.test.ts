import { beforeAll, describe, expect, it } from 'vitest';
import {
  type BadInputWorld,
  badInputWorld,
  expectRefused,
  JSON_ENDPOINT_LABELS,
  type JsonEndpoint,
  jsonEndpoint,
  MB,
  sendJson,
  snapshotD1,
} from '../reliability-support';

// Malformed request bodies against every management endpoint that takes JSON: invalid JSON, bodies that are not
// objects, unknown and prototype-polluting keys, 5 MB bodies, pathological nesting and wrong content types. Each
// must be a 4xx problem+json naming the field where there is one — never a 5xx — and D1 must not change at all.

let world: BadInputWorld;

beforeAll(async () => {
  world = await badInputWorld();
});

interface BodyCase {
  label: string;
  body: (valid: Record<string, unknown>) => string;
  contentType?: string | null;
  /** The field the problem must name; none for content-type refusals. */
  field?: (valid: Record<string, unknown>) => string;
}

const spread = (valid: Record<string, unknown>) => JSON.stringify(valid).slice(1, -1);

const BODY_CASES: BodyCase[] = [
  { label: 'truncated JSON', body: () => '{"name":', field: () => 'body' },
  { label: 'single-quoted JSON', body: () => "{'name':'x'}", field: () => 'body' },
  { label: 'trailing garbage', body: (v) => `${JSON.stringify(v)} x`, field: () => 'body' },
  { label: 'NaN literal', body: () => '{"name": NaN}', field: () => 'body' },
  { label: 'a NUL byte', body: () => '\u0000', field: () => 'body' },
  { label: 'empty body', body: () => '', field: () => 'body' },
  { label: 'a JSON array', body: () => '[]', field: () => 'body' },
  { label: 'a JSON string', body: () => '"x"', field: () => 'body' },
  { label: 'a JSON number', body: () => '42', field: () => 'body' },
  { label: 'JSON null', body: () => 'null', field: () => 'body' },
  { label: 'an unknown field', body: (v) => JSON.stringify({ ...v, surprise: 1 }), field: () => 'surprise' },
  {
    label: 'a __proto__ key',
    body: (v) => `{"__proto__":{"role":"admin"},${spread(v)}}`,
    field: () => '__proto__',
  },
  {
    label: 'a constructor key',
    body: (v) => `{"constructor":{"prototype":{}},${spread(v)}}`,
    field: () => 'constructor',
  },
  {
    label: '5 MB in an unknown field',
    body: (v) => JSON.stringify({ ...v, padding: 'x'.repeat(5 * MB) }),
    field: () => 'padding',
  },
  {
    label: '5 MB in the first field',
    body: (v) => JSON.stringify({ ...v, [Object.keys(v)[0]!]: 'x'.repeat(5 * MB) }),
    field: (v) => Object.keys(v)[0]!,
  },
  {
    label: '100 000 levels of nesting',
    body: (v) => `{${spread(v)},"deep":${'['.repeat(100_000)}${']'.repeat(100_000)}}`,
    field: () => 'deep',
  },
  {
    label: 'a duplicate key with a bad second value',
    body: (v) => `{${spread(v)},${spread(v).replace(/:.*/, ':{}')}}`,
  },
  { label: 'text/plain', body: (v) => JSON.stringify(v), contentType: 'text/plain' },
  { label: 'form-urlencoded', body: () => 'name=x', contentType: 'application/x-www-form-urlencoded' },
  { label: 'multipart', body: () => '--b\r\n\r\nx\r\n--b--', contentType: 'multipart/form-data; boundary=b' },
  { label: 'XML', body: () => '<name>x</name>', contentType: 'application/xml' },
];

/** Runs every case against `endpoint`, checking after each one that D1 is exactly as before. */
async function refuseAll(endpoint: JsonEndpoint, cases: BodyCase[]) {
  const before = await snapshotD1();
  for (const c of cases) {
    const label = `${endpoint.label}: ${c.label}`;
    const res = await sendJson(
      endpoint,
      c.body(endpoint.valid),
      c.contentType === undefined ? 'application/json' : c.contentType,
    );
    await expectRefused(res, { label, ...(c.field ? { field: c.field(endpoint.valid) } : {}) });
    expect(await snapshotD1(), label).toEqual(before);
  }
}

/** Endpoints whose body is optional take an empty one as none (tokens-rotate.test.ts checks that it is a 201). */
const OPTIONAL_BODY = new Set(['POST /tokens/{token}/rotate']);

describe('malformed bodies', () => {
  it.each(JSON_ENDPOINT_LABELS)('%s', async (label) => {
    const cases = OPTIONAL_BODY.has(label) ? BODY_CASES.filter((c) => c.label !== 'empty body') : BODY_CASES;
    await refuseAll(jsonEndpoint(world, label), cases);
  });
});

describe('a body without a Content-Type is a 415', () => {
  it.each(JSON_ENDPOINT_LABELS)('%s', async (label) => {
    const endpoint = jsonEndpoint(world, label);
    const before = await snapshotD1();
    const res = await sendJson(endpoint, JSON.stringify(endpoint.valid), null);
    const problem = await expectRefused(res, { label });
    expect(problem.status).toBe(415);
    expect(await snapshotD1()).toEqual(before);
  });
});
