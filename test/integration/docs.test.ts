import { describe, expect, it } from 'vitest';
import { bearer, call, createToken, jwtFor, uniqueUser } from '../helpers';
import {
  API,
  DAY_MS,
  expectJson,
  expectProblem,
  getWith,
  newUser,
  type TokenBody,
  userWithToken,
} from './support';

// The published contract (OpenAPI + HTML docs), the unauthenticated policy, and unknown paths.

const OPERATIONS: [string, string][] = [
  ['get', '/currentuser'],
  ['get', '/policy'],
  ['get', '/tokens/self'],
  ['post', '/tokens/self/revoke'],
  ['get', '/tokens'],
  ['post', '/tokens'],
  ['get', '/tokens/{id}'],
  ['patch', '/tokens/{id}'],
  ['delete', '/tokens/{id}'],
  ['post', '/tokens/{id}/revoke'],
  ['post', '/tokens/{id}/restore'],
  ['post', '/tokens/{id}/rotate'],
  ['get', '/audit'],
  ['post', '/dev/session'],
];

type Json = Record<string, unknown>;

async function openApi(): Promise<Json & { paths: Record<string, Record<string, Json>> }> {
  const res = await call('/openapi.json');
  expect(res.status).toBe(200);
  expect(res.headers.get('Content-Type')).toMatch(/^application\/json/);
  return (await res.json()) as Json & { paths: Record<string, Record<string, Json>> };
}

describe('GET /openapi.json', () => {
  it('is OpenAPI 3.1 and lists every management operation', async () => {
    const doc = await openApi();
    expect(doc.openapi).toMatch(/^3\.1\./);
    for (const [method, path] of OPERATIONS) {
      expect(doc.paths[API + path]?.[method], `${method.toUpperCase()} ${path}`).toBeDefined();
    }
  });

  it('documents errors as problem+json and the bearer scheme', async () => {
    const doc = await openApi();
    const create = doc.paths[`${API}/tokens`]!.post as { responses: Record<string, Json> };
    expect(Object.keys(create.responses)).toEqual(expect.arrayContaining(['201', '401', '409', '422']));
    expect(create.responses['422']!.content).toHaveProperty(['application/problem+json']);
    const schemes = (doc.components as { securitySchemes?: Json }).securitySchemes;
    expect(schemes?.bearer).toMatchObject({ type: 'http', scheme: 'bearer' });
  });

  // The spec's `security` is what clients generate their auth from: check it against what each operation does.
  it('documents exactly the operations that answer 401 without credentials as needing them', async () => {
    const doc = await openApi();
    const wrong: string[] = [];
    for (const [path, methods] of Object.entries(doc.paths)) {
      for (const [method, operation] of Object.entries(methods)) {
        const security = (operation.security ?? doc.security) as unknown[];
        const url = path.replace(/\{[^}]+\}/g, 'tok_00000000000000000000');
        const body = method === 'get' || method === 'delete' ? {} : { json: {} };
        const res = await call(url, { method: method.toUpperCase(), ...body });
        if ((res.status === 401) !== security.length > 0)
          wrong.push(`${method.toUpperCase()} ${path}: ${res.status}, security ${JSON.stringify(security)}`);
      }
    }
    expect(wrong).toEqual([]);
  });

  // Clients generate their error handling from the spec: whatever a bad request gets must be listed there.
  it('lists every status that bad requests get from each operation', async () => {
    const doc = await openApi();
    const admin = await jwtFor(uniqueUser('admin'), { role: 'admin' });
    const member = await jwtFor(uniqueUser());
    const undocumented: string[] = [];
    for (const [path, methods] of Object.entries(doc.paths)) {
      for (const [method, operation] of Object.entries(methods)) {
        const {
          responses,
          requestBody,
          parameters = [],
        } = operation as {
          responses: Record<string, unknown>;
          requestBody?: unknown;
          parameters?: { in: string }[];
        };
        const write = method !== 'get';
        const tries: [string, string, RequestInit][] = [];
        const unknownId = path.replace(/\{[^}]+\}/g, 'tok_00000000000000000000');
        for (const [who, jwt] of [
          ['admin', admin],
          ['member', member],
        ] as const) {
          const auth = { Authorization: `Bearer ${jwt}` };
          const json = { ...auth, 'Content-Type': 'application/json' };
          tries.push([`${who}, {}`, unknownId, { headers: json, body: write ? '{}' : undefined }]);
          if (requestBody) {
            tries.push([`${who}, bad JSON`, unknownId, { headers: json, body: '{"name": ' }]);
            tries.push([
              `${who}, text/plain`,
              unknownId,
              { headers: { ...auth, 'Content-Type': 'text/plain' }, body: 'x' },
            ]);
          }
          if (path.includes('{'))
            tries.push([
              `${who}, long id`,
              path.replace(/\{[^}]+\}/g, 'x'.repeat(65)),
              { headers: json, body: write ? '{}' : undefined },
            ]);
          if (parameters.some((p) => p.in === 'query'))
            tries.push([`${who}, bad query`, `${unknownId}?limit=abc&cursor=%25%25`, { headers: auth }]);
          if (write)
            tries.push([
              `${who}, cross-site`,
              unknownId,
              { headers: { ...json, 'Sec-Fetch-Site': 'cross-site' }, body: '{}' },
            ]);
        }
        for (const [label, url, init] of tries) {
          const res = await call(url, { ...init, method: method.toUpperCase() });
          await res.body?.cancel();
          if (!(String(res.status) in responses))
            undocumented.push(`${method.toUpperCase()} ${path} (${label}): ${res.status}`);
        }
      }
    }
    expect(undocumented).toEqual([]);
  });

  it('documents the headers answers carry: Location on every 201, ETag on every token, Retry-After on 429 and 503', async () => {
    const doc = await openApi();
    const missing: string[] = [];
    let created = 0;
    let tokens = 0;
    for (const [path, methods] of Object.entries(doc.paths))
      for (const [method, operation] of Object.entries(methods))
        for (const [status, response] of Object.entries(operation.responses as Record<string, Json>)) {
          const headers = Object.keys((response.headers ?? {}) as Json);
          const schema = JSON.stringify(response.content ?? {});
          const oneToken =
            /"schema":\{"\$ref":"#\/components\/schemas\/(Token|CreatedToken|AdminToken)"\}/.test(schema);
          const needed = [
            ...(status === '201' ? ['Location'] : []),
            ...(oneToken ? ['ETag'] : []),
            ...(['429', '503'].includes(status) ? ['Retry-After'] : []),
          ];
          if (status === '201') created++;
          if (oneToken) tokens++;
          for (const name of needed)
            if (!headers.includes(name)) missing.push(`${method} ${path} ${status}: ${name}`);
        }
    expect(missing).toEqual([]);
    expect(created).toBe(4);
    expect(tokens).toBe(12);
    // And a create does send it, pointing at the token.
    const user = await newUser();
    const res = await call(`${API}/tokens`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${user.jwt}` },
      json: { name: 'located' },
    });
    const body = await expectJson<{ id: string }>(res, 201);
    expect(res.headers.get('Location')).toBe(`${API}/tokens/${body.id}`);
  });

  it('lists for each admin token action the success status it gives, and only that one', async () => {
    const doc = await openApi();
    const codes = (method: string, path: string) =>
      Object.keys((doc.paths[API + path]![method] as { responses: Json }).responses).filter((s) => s < '300');
    expect(codes('post', '/admin/tokens/{id}/revoke')).toEqual(['200']);
    expect(codes('post', '/admin/tokens/{id}/restore')).toEqual(['200']);
    expect(codes('delete', '/admin/tokens/{id}')).toEqual(['204']);
  });

  it('states the name and description limits as JSON Schema, so generated validators apply them', async () => {
    const doc = await openApi();
    const body = JSON.stringify((doc.paths[`${API}/tokens`]!.post as { requestBody: Json }).requestBody);
    const schemas = JSON.stringify(doc.components);
    expect(`${body}${schemas}`).toMatch(/"name":\{[^}]*"maxLength":100/);
    expect(`${body}${schemas}`).toMatch(/"description":\{[^}]*"maxLength":500/);
    // Required on create, optional on edit, and each says so.
    type Body = { requestBody: { content: { 'application/json': { schema: { $ref: string } } } } };
    const nameOf = (operation: unknown) => {
      const ref = (operation as Body).requestBody.content['application/json'].schema.$ref.split('/').pop()!;
      const schema = (doc.components as { schemas: Record<string, { properties: Record<string, Json> }> })
        .schemas[ref]!;
      return String(schema.properties.name!.description);
    };
    expect(nameOf(doc.paths[`${API}/tokens`]!.post)).toMatch(/^Required\./);
    expect(nameOf(doc.paths[`${API}/tokens/{id}`]!.patch)).toMatch(/^A new name/);
  });

  it('describes the token resource without any secret field, and the secret only on creation', async () => {
    const doc = await openApi();
    type Schema = { properties?: Json; allOf?: Schema[] };
    const schemas = (doc.components as { schemas: Record<string, Schema> }).schemas;
    // CreatedToken extends Token through allOf; collect the properties of every part.
    const props = (schema: Schema): string[] => [
      ...Object.keys(schema.properties ?? {}),
      ...(schema.allOf ?? []).flatMap((part) => props(part)),
    ];
    expect(props(schemas.Token!)).toContain('hint');
    expect(props(schemas.Token!)).not.toContain('token');
    expect(props(schemas.Token!)).not.toContain('secret_hash');
    expect(props(schemas.CreatedToken!)).toContain('token');
    const list = doc.paths[`${API}/tokens`]!.get as { responses: Record<string, { content: Json }> };
    expect(JSON.stringify(list.responses['200']!.content)).not.toContain('CreatedToken');
  });
});

describe('GET /docs', () => {
  it('renders every operation as HTML', async () => {
    const res = await call('/docs');
    expect(res.status).toBe(200);
    expect(res.headers.get('Content-Type')).toMatch(/^text\/html/);
    const html = await res.text();
    for (const [method, path] of OPERATIONS) {
      expect(html, `${method} ${path}`).toContain(`<code>${API}${path}</code>`);
    }
  });

  it('loads only what its own Content-Security-Policy allows', async () => {
    const res = await call('/docs');
    const html = await res.text();
    const csp = res.headers.get('Content-Security-Policy') ?? '';
    const styleSrc = /style-src ([^;]+)/.exec(csp)?.[1] ?? /default-src ([^;]+)/.exec(csp)?.[1] ?? '';
    const scriptSrc = /script-src ([^;]+)/.exec(csp)?.[1] ?? '';
    if (/<style[\s>]/i.test(html) || /\sstyle="/i.test(html)) expect(styleSrc).toContain("'unsafe-inline'");
    if (/<script(?![^>]*\ssrc=)[^>]*>/i.test(html)) expect(scriptSrc).toContain("'unsafe-inline'");
    expect(html).not.toMatch(/(?:src|href)="https?:\/\//);
    // Every stylesheet it links is served, as CSS.
    for (const [, href] of html.matchAll(/<link[^>]+rel="stylesheet"[^>]+href="([^"]+)"/g)) {
      const css = await call(href!);
      expect(css.status, href).toBe(200);
      expect(css.headers.get('Content-Type')).toMatch(/^text\/css/);
    }
  });

  it('/ leads to the token management page, which is not the docs page', async () => {
    const res = await call('/', { redirect: 'manual' });
    expect([301, 302, 303, 307, 308]).toContain(res.status);
    expect(res.headers.get('Location')).toMatch(/\/ui$/);
  });
});

describe('GET /policy', () => {
  interface Policy {
    expiration: {
      required: boolean;
      editable: boolean;
      min: { days?: number };
      max_days: number;
      default_expires_at: string;
      earliest_expires_at: string;
      latest_expires_at: string;
      presets: { days: number; expires_at: string }[];
    };
    scopes: { all: string[]; member: string[] };
    token_prefix: string;
    token_pattern: string;
  }

  it('is readable without credentials and never cached', async () => {
    const before = Date.now();
    const policy = await expectJson<Policy>(await call(`${API}/policy`), 200);
    expect(policy.expiration).toMatchObject({
      required: true,
      editable: true,
      min: { days: 1 },
      max_days: 365,
    });
    const defaultIn = Date.parse(policy.expiration.default_expires_at) - before;
    expect(defaultIn).toBeGreaterThanOrEqual(30 * DAY_MS);
    expect(defaultIn).toBeLessThan(30 * DAY_MS + 5_000);
    expect(policy.expiration.presets.map((p) => p.days)).toContain(30);
    expect(policy.scopes.member).toEqual(['read', 'write']);
    expect(policy.token_prefix).toBe('pat_');
  });

  it('publishes bounds and a token pattern that match what create actually does', async () => {
    const policy = await expectJson<Policy>(await call(`${API}/policy`), 200);
    const user = await newUser();
    const created = await createToken(user.jwt);
    expect(new RegExp(policy.token_pattern).test(`token: ${created.token}.`)).toBe(true);
    expect(new RegExp(policy.token_pattern).test(created.token.slice(0, -1))).toBe(false);
    const latest = policy.expiration.latest_expires_at.slice(0, 10);
    const tooLate = new Date(Date.parse(latest) + DAY_MS).toISOString().slice(0, 10);
    const post = (expires_at: string) =>
      call(`${API}/tokens`, {
        method: 'POST',
        headers: { Authorization: `Bearer ${user.jwt}` },
        json: { name: `bound ${expires_at}`, expires_at },
      });
    expect((await post(latest)).status).toBe(201);
    expect((await post(tooLate)).status).toBe(422);
  });
});

describe('unknown paths', () => {
  it.each(['/api/v1/nothing-here', '/api/v1/tokens/tok_x/frobnicate'])(
    '%s answers 404 problem+json',
    async (path) => {
      const problem = await expectProblem(await call(path), 404, 'not_found');
      expect(problem.instance).toBe(path);
    },
  );

  it('a path the API has, asked with a method it does not, is 405 with Allow; the path was not touched', async () => {
    const { user, created } = await userWithToken();
    const tries: [string, string, string][] = [
      ['PUT', `/tokens/${created.id}`, 'GET, HEAD, PATCH, DELETE'],
      ['PATCH', '/tokens', 'GET, HEAD, POST'],
      ['DELETE', '/tokens', 'GET, HEAD, POST'],
      ['PUT', '/tokens/self', 'GET, HEAD'],
      ['GET', `/tokens/${created.id}/revoke`, 'POST'],
      ['OPTIONS', '/currentuser', 'GET, HEAD'],
    ];
    for (const [method, path, allow] of tries) {
      const body = method === 'GET' ? {} : { json: { name: 'changed' } };
      const res = await call(API + path, { method, headers: bearer(user.jwt), ...body });
      const problem = await expectProblem(res, 405, 'method_not_allowed');
      expect(res.headers.get('Allow'), `${method} ${path}`).toBe(allow);
      expect(problem.detail).toContain(allow);
    }
    expect((await expectJson<TokenBody>(await getWith(`/tokens/${created.id}`, user.jwt), 200)).name).toBe(
      created.name,
    );
    // A trailing slash is another path, which the API does not have: 404, not a 405 refusing an allowed method.
    for (const path of ['/tokens/', '/currentuser/'])
      await expectProblem(await call(API + path, { headers: bearer(user.jwt) }), 404, 'not_found');
    // HEAD, which Allow lists wherever GET is, works.
    expect(
      (await call(`${API}/tokens/${created.id}`, { method: 'HEAD', headers: bearer(user.jwt) })).status,
    ).toBe(200);
  });
});
