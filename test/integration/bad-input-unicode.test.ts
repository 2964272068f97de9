import { env } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';
import { bearer, call } from '../helpers';
import { expectRefused, snapshotD1 } from '../reliability-support';
import { createServiceAccount, knownUser } from './admin-support';
import { API, expectJson, getWith, type TokenBody } from './support';

// Unicode edge cases in the free-text fields (token and service-account names and descriptions). Text that is
// unusual but valid — emoji sequences, right-to-left marks, joiners, replacement characters — is stored and read
// back exactly as sent (bidirectional overrides only in descriptions: in a name they disguise it). What is not text at all (lone UTF-16 surrogates, which no UTF-8 store can hold) and names
// made only of invisible characters must be refused with a 422 naming the field, leaving D1 unchanged.

const VALID_BUT_UNUSUAL: [string, string][] = [
  ['emoji ZWJ sequences', '👩‍👩‍👧‍👦'.repeat(14)],
  ['flags and skin tones', '🇫🇷🇯🇵 👍🏽'],
  ['right-to-left text with marks inside', 'שלום \u200Fabc\u200E עולם'],
  ['zero-width joiner inside a word', 'ab\u200Dcd'],
  ['combining marks', 'e\u0301\u0302\u0303'],
  ['CJK and Arabic', '部署 نشر'],
  ['replacement characters', '\uFFFD\uFFFD'],
  ['a supplementary-plane letter', '𝒜𝒷𝒸'],
];

/** Creates a token called `name` and returns what the create answer, GET, the list and D1 each say its name is. */
async function namesSeen(jwt: string, name: string) {
  const created = await expectJson<TokenBody>(
    await call(`${API}/tokens`, { method: 'POST', headers: bearer(jwt), json: { name, description: name } }),
    201,
  );
  const got = await expectJson<TokenBody>(await getWith(`/tokens/${created.id}`, jwt), 200);
  const row = await env.DB.prepare('select name, description from tokens where id = ?')
    .bind(created.id)
    .first();
  return { created: created.name, got: got.name, description: got.description, stored: row?.name };
}

describe('unusual but valid text round-trips exactly, in its NFC form', () => {
  it.each(VALID_BUT_UNUSUAL)('%s', async (_label, name) => {
    const user = await knownUser();
    const seen = await namesSeen(user.jwt, name);
    // Names and descriptions are stored in Unicode NFC (e + U+0301 becomes é); everything else is kept as sent.
    const nfc = name.normalize('NFC');
    expect(seen).toEqual({ created: nfc, got: nfc, description: nfc, stored: nfc });
  });

  it('a body that is not valid UTF-8 is read with replacement characters, and stored as read', async () => {
    const user = await knownUser();
    const bytes = new Uint8Array([
      ...new TextEncoder().encode('{"name":"bad '),
      0xff,
      0xfe,
      0xc0,
      0xaf,
      0x22,
      0x7d,
    ]);
    const res = await call(`${API}/tokens`, {
      method: 'POST',
      headers: { ...bearer(user.jwt), 'Content-Type': 'application/json' },
      body: bytes,
    });
    if (res.status >= 400) return void (await expectRefused(res, { field: 'body' }));
    const created = await expectJson<TokenBody>(res, 201);
    const got = await expectJson<TokenBody>(await getWith(`/tokens/${created.id}`, user.jwt), 200);
    expect(got.name).toBe(created.name);
    expect(created.name.startsWith('bad ')).toBe(true);
  });
});

const LONE_SURROGATES: [string, string][] = [
  ['lone high surrogate', 'a\uD800b'],
  ['lone low surrogate', '\uDC00x'],
  ['reversed pair', 'x\uDE00\uD83Dy'],
];

/** Sends each value (as the JSON escape a client would write) to each field; all must be refused. */
async function expectAllRefused(send: (field: string, json: string) => Promise<Response>, fields: string[]) {
  const before = await snapshotD1();
  for (const field of fields) {
    for (const [label, value] of LONE_SURROGATES) {
      // JSON.stringify writes lone surrogates as \uXXXX escapes (well-formed JSON.stringify), as clients do.
      await expectRefused(await send(field, JSON.stringify(value)), { field, label: `${field}: ${label}` });
    }
  }
  expect(await snapshotD1()).toEqual(before);
}

describe('text that is not Unicode text is refused', () => {
  it('lone surrogates in token names and descriptions are a 422', async () => {
    const user = await knownUser();
    await expectAllRefused(
      (field, json) =>
        call(`${API}/tokens`, {
          method: 'POST',
          headers: { ...bearer(user.jwt), 'Content-Type': 'application/json' },
          body: `{"name":"ok",${JSON.stringify(field)}:${json}}`.replace('"name":"ok","name"', '"name"'),
        }),
      ['name', 'description'],
    );
  });

  it('lone surrogates in service-account names and descriptions are a 422', async () => {
    const admin = await knownUser('admin');
    const account = await createServiceAccount(admin);
    await expectAllRefused(
      (field, json) =>
        call(`${API}/admin/service-accounts/${account.id}`, {
          method: 'PATCH',
          headers: { ...admin.auth, 'Content-Type': 'application/json' },
          body: `{${JSON.stringify(field)}:${json}}`,
        }),
      ['name', 'description'],
    );
  });

  it('a name with a bidirectional embedding, override or isolate is a 422 (a description keeps it)', async () => {
    const user = await knownUser();
    const before = await snapshotD1();
    // `deploy \u202Eexe.txt` shows as `deploy txt.exe`.
    for (const name of ['deploy \u202Eexe.txt', 'a\u202Ab', 'a\u2066b\u2069', 'a\u2068b']) {
      const res = await call(`${API}/tokens`, { method: 'POST', headers: bearer(user.jwt), json: { name } });
      await expectRefused(res, { field: 'name', label: JSON.stringify(name) });
    }
    expect(await snapshotD1()).toEqual(before);
    const created = await expectJson<TokenBody>(
      await call(`${API}/tokens`, {
        method: 'POST',
        headers: bearer(user.jwt),
        json: { name: 'bidi in description', description: 'deploy \u202Eexe.txt' },
      }),
      201,
    );
    expect(created.description).toBe('deploy \u202Eexe.txt');
  });

  it('a name made only of invisible characters is a 422 (blank)', async () => {
    const user = await knownUser();
    const before = await snapshotD1();
    for (const name of ['\u200B', '\u200B\u200C\u200D', '\u2060\u200B', '\u00AD\u200E']) {
      const res = await call(`${API}/tokens`, { method: 'POST', headers: bearer(user.jwt), json: { name } });
      await expectRefused(res, { field: 'name', label: JSON.stringify(name) });
    }
    expect(await snapshotD1()).toEqual(before);
  });
});
