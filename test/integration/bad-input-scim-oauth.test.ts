import { beforeAll, describe, expect, it } from 'vitest';
import { call } from '../helpers';
import { type BadInputWorld, badInputWorld, expectRefused, KB, MB, snapshotD1 } from '../reliability-support';
import { TEST_VARS } from '../vars';
import { SCIM_PATCH, scim, scimActive } from './admin-support';

// Bad input for the two non-JSON:API surfaces. SCIM answers with its own error schema (RFC 7644 §3.12), never a
// 5xx; out-of-range paging parameters are interpreted as RFC 7644 §3.4.2.4 says rather than refused. Token
// introspection (RFC 7662) refuses bad client credentials and bodies, and answers {"active": false} for any
// token value that is not valid now — malformed, huge or undecodable included. D1 never changes.

let world: BadInputWorld;

beforeAll(async () => {
  world = await badInputWorld();
});

describe('SCIM', () => {
  it('bad filters are 400 invalidFilter', async () => {
    const before = await snapshotD1();
    for (const filter of [
      'userName eq alice',
      `userName eq "${'a'.repeat(10 * KB)}"`,
      'userName co "a"',
      'emails eq "a@b.test"',
      'userName eq ""',
      '(',
      'userName eq "a" or 1 eq 1',
    ]) {
      const body = await expectRefused(await scim(`/Users?filter=${encodeURIComponent(filter)}`), {
        scim: true,
        label: filter.slice(0, 30),
      });
      expect(body).toMatchObject({ status: '400', scimType: 'invalidFilter' });
    }
    expect(await snapshotD1()).toEqual(before);
  });

  it('a filter for an odd name finds nobody (200, empty) or is a 400 SCIM error, whatever the bytes', async () => {
    for (const name of ['a%00', '%ED%A0%80', '%E0%A4%A', '%F0%9F%92%A9', `' OR 1=1 --`]) {
      const res = await scim(`/Users?filter=${encodeURIComponent('userName eq "')}${name}%22`);
      if (res.status === 400) await expectRefused(res, { scim: true, label: name });
      else {
        expect(res.status, name).toBe(200);
        expect(await res.json(), name).toMatchObject({ totalResults: 0, Resources: [] });
      }
    }
  });

  it('out-of-range startIndex and count are interpreted, not a 5xx', async () => {
    for (const value of ['-1', '0', '1e309', 'abc', '9007199254740993', '']) {
      const res = await scim(`/Users?startIndex=${value}&count=${value}`);
      expect(res.status, value).toBe(200);
      const body = (await res.json()) as { schemas: string[]; startIndex: number; Resources: unknown[] };
      expect(body.startIndex).toBeGreaterThanOrEqual(1);
      expect(body.Resources.length).toBeLessThanOrEqual(200);
    }
  });

  it('odd user ids are a 404 SCIM error', async () => {
    for (const id of [
      '%00',
      '..%2F..%2FUsers',
      '%ED%A0%80',
      "'%20OR%201=1",
      'i'.repeat(10 * KB),
      world.account.id,
    ]) {
      await expectRefused(await scim(`/Users/${id}`), { scim: true, label: id.slice(0, 20) });
      await expectRefused(await scim(`/Users/${id}`, { method: 'PATCH', json: scimActive(false) }), {
        scim: true,
      });
    }
  });

  it('bad PATCH bodies are refused and leave the user active', async () => {
    const path = `/Users/${world.target.id}`;
    const raw = (body: string, contentType = 'application/scim+json') =>
      call(`/scim/v2${path}`, {
        method: 'PATCH',
        headers: { Authorization: `Bearer ${TEST_VARS.SCIM_BEARER_TOKEN}`, 'Content-Type': contentType },
        body,
      });
    const before = await snapshotD1();
    const op = (o: object) => JSON.stringify({ schemas: [SCIM_PATCH], Operations: [o] });
    for (const [label, res] of [
      ['truncated JSON', await raw('{"schemas":')],
      ['empty body', await raw('')],
      ['text/plain', await raw(JSON.stringify(scimActive(false)), 'text/plain')],
      [
        'no schemas',
        await raw(JSON.stringify({ Operations: [{ op: 'replace', path: 'active', value: false }] })),
      ],
      ['Operations not a list', await raw(JSON.stringify({ schemas: [SCIM_PATCH], Operations: {} }))],
      ['no operations', await raw(JSON.stringify({ schemas: [SCIM_PATCH], Operations: [] }))],
      ['remove', await raw(op({ op: 'remove', path: 'active' }))],
      ['another attribute', await raw(op({ op: 'replace', path: 'userName', value: 'mallory' }))],
      ['active: "maybe"', await raw(op({ op: 'replace', path: 'active', value: 'maybe' }))],
      ['active: 0', await raw(op({ op: 'replace', path: 'active', value: 0 }))],
      ['active: null', await raw(op({ op: 'replace', value: { active: null } }))],
      ['5 MB', await raw(op({ op: 'replace', path: 'active', value: 'x'.repeat(5 * MB) }))],
      [
        'deep nesting',
        await raw(`{"schemas":["${SCIM_PATCH}"],"Operations":${'['.repeat(100_000)}${']'.repeat(100_000)}}`),
      ],
      ['a JSON array', await raw('[]')],
      ['JSON null', await raw('null')],
    ] as const) {
      await expectRefused(res, { scim: true, label });
    }
    expect(await snapshotD1()).toEqual(before);
  });

  it('bad SCIM credentials are a 401 SCIM error; unsupported methods a 405 naming the allowed ones', async () => {
    for (const token of [null, '', 'x', `${TEST_VARS.SCIM_BEARER_TOKEN}x`, 'a'.repeat(10 * KB)]) {
      const body = await expectRefused(await scim('/Users', { token }), { scim: true });
      expect(body.status).toBe('401');
    }
    await expectRefused(await scim('/Users', { method: 'POST', json: { userName: 'x' } }), { scim: true });
    // Outside the subset: writes to Groups (reads list none), and a DELETE of the whole collection.
    for (const [res, allow] of [
      [await scim('/Groups', { method: 'POST', json: {} }), 'GET, HEAD'],
      [await scim('/Users', { method: 'DELETE' }), 'GET, HEAD, POST'],
    ] as const) {
      expect(res.headers.get('allow')).toBe(allow);
      expect((await expectRefused(res, { scim: true })).status).toBe('405');
    }
  });
});

describe('POST /oauth/introspect', () => {
  const CLIENT = `Basic ${btoa('resource-server:introspection-secret-123')}`;
  const FORM = 'application/x-www-form-urlencoded';
  const introspect = (
    body: string,
    headers: Record<string, string> = { Authorization: CLIENT, 'Content-Type': FORM },
  ) => call('/oauth/introspect', { method: 'POST', headers, body });

  it('bad client credentials are 401 invalid_client', async () => {
    for (const authorization of [
      '',
      'Basic',
      'Basic !!!',
      `Basic ${btoa('no-colon')}`,
      `Basic ${btoa('%E0%A4%A:x')}`,
      `Basic ${btoa('resource-server:wrong')}`,
      `Bearer ${'a'.repeat(10 * KB)}`,
    ]) {
      const headers: Record<string, string> = {
        'Content-Type': FORM,
        ...(authorization ? { Authorization: authorization } : {}),
      };
      const problem = await expectRefused(await introspect('token=x', headers), {
        label: authorization.slice(0, 20),
      });
      expect(problem.code).toBe('invalid_client');
    }
  });

  it('bad bodies are 400 naming `token`, or 415', async () => {
    for (const body of ['', 'token=', 'tok=x', '&&&', '%']) {
      await expectRefused(await introspect(body), { field: 'token', label: body });
    }
    for (const type of ['application/json', 'text/plain', 'multipart/form-data; boundary=x']) {
      const problem = await expectRefused(
        await introspect('token=x', { Authorization: CLIENT, 'Content-Type': type }),
      );
      expect(problem.status).toBe(415);
    }
  });

  it('any token value that is not valid now is {"active": false}, and nothing is written', async () => {
    const before = await snapshotD1();
    const values = [
      'x',
      'pat_',
      `pat_${'A'.repeat(36)}`,
      'p'.repeat(MB),
      '%00',
      '\u0000',
      world.token.token.toLowerCase(),
    ];
    for (const token of [
      ...values.map(encodeURIComponent),
      '%E0%A4%A',
      '%ED%A0%80',
      `${world.token.token}%00`,
    ]) {
      const res = await introspect(`token=${token}`);
      expect(res.status).toBe(200);
      expect(await res.json()).toEqual({ active: false });
    }
    expect(await snapshotD1()).toEqual(before);
  });
});
