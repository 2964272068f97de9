// `npm start` validates the configuration before it starts the Worker: the vars file must be read as
// `wrangler dev --env-file` reads it (dotenv and dotenv-expand), or start approves values the Worker never gets
// and refuses values it would get. And generating the local secrets must leave what the file holds as written.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, it } from 'node:test';
import { ensureDevVars, readVarsFile, workerVars } from '../../scripts/local';
import { ConfigError, parseConfig } from '../../src/config';

const dir = mkdtempSync(join(tmpdir(), 'pat-start-config-'));
after(() => rmSync(dir, { recursive: true, force: true }));
let files = 0;
const varsFile = (text: string) => {
  const path = join(dir, `vars-${files++}`);
  writeFileSync(path, text);
  return path;
};

const ROUTES = `ROUTES='[
  {"name": "a", "match": {"path_prefix": "/a"}, "upstream": {"builtin": "echo"}}
]'`;

it('reads values as the Worker gets them: inline comments dropped, quoted JSON over several lines', () => {
  const vars = readVarsFile(varsFile(`CACHE_TTL_SECONDS=20 # seconds\n${ROUTES}\n`));
  assert.equal(vars.CACHE_TTL_SECONDS, '20');
  assert.deepEqual(JSON.parse(vars.ROUTES!)[0].name, 'a');
});

it('a pepper cut short by an unquoted # is refused at start, as the Worker would refuse it', () => {
  const path = varsFile('TOKEN_PEPPER=abcdefghij#klmnopqrstuvwxyz0123456789\n');
  const vars = ensureDevVars(path);
  assert.equal(vars.TOKEN_PEPPER, 'abcdefghij');
  assert.throws(
    () => parseConfig(workerVars(undefined, vars)),
    (error: unknown) =>
      error instanceof ConfigError && error.problems.some((p) => p.startsWith('TOKEN_PEPPER: ')),
  );
});

it('generating the local secrets appends them and keeps a multi-line ROUTES as written', () => {
  const path = varsFile(`# mine\n${ROUTES}`);
  const vars = ensureDevVars(path);
  const text = readFileSync(path, 'utf8');
  assert.ok(text.startsWith(`# mine\n${ROUTES}\n`), text);
  for (const name of ['TOKEN_PEPPER', 'AUTH_HS256_SECRET', 'GATEWAY_SIGNING_KEY'])
    assert.equal(readVarsFile(path)[name], vars[name]);
  assert.equal(parseConfig(workerVars(undefined, readVarsFile(path))).routes[0]?.name, 'a');
  // A second run finds them all and changes nothing.
  ensureDevVars(path);
  assert.equal(readFileSync(path, 'utf8'), text);
});
