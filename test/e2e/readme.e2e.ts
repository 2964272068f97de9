// The README's walk-through, run verbatim (only GW points at this run's gateway), so its examples stay true.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, it } from 'node:test';
import { ROOT } from '../../scripts/local';
import { CONFIG_VARIABLES } from '../../src/config';
import { type Harness, startHarness } from './harness';

let h: Harness;
before(async () => {
  h = await startHarness();
});
after(async () => {
  await h?.stop();
});

function walkthrough(): string {
  const readme = readFileSync(`${ROOT}README.md`, 'utf8');
  const section = readme.slice(readme.indexOf('## Walk-through'));
  const block = /```bash\n([\s\S]*?)```/.exec(section)?.[1];
  assert.ok(block, 'README has no bash block under "## Walk-through"');
  assert.match(block, /^GW=http:\/\/127\.0\.0\.1:8787$/m);
  return block;
}

it('the README walk-through works verbatim', async () => {
  const script = walkthrough().replace(/^GW=.*$/m, `GW=${h.gateway}`);
  const dir = mkdtempSync(join(tmpdir(), 'pat-readme-'));
  try {
    const output = await new Promise<string>((resolve, reject) => {
      execFile('bash', ['-euo', 'pipefail', '-c', script], { cwd: dir }, (error, stdout, stderr) =>
        error ? reject(new Error(`${error.message}\n${stdout}\n${stderr}`)) : resolve(stdout),
      );
    });
    const lines = output.trim().split('\n');
    assert.match(lines[0]!, /^tok_[0-9A-Za-z]{16}$/);
    assert.match(lines[1]!, /^laptop CLI active pat_…[0-9A-Za-z]{4}$/);
    assert.deepEqual(lines.slice(2), ['/hello', 'revoked', '401', 'active', '200', '204', '404']);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

it("the README's Configuration table names every variable the configuration reads", () => {
  const readme = readFileSync(`${ROOT}README.md`, 'utf8');
  const start = readme.indexOf('## Configuration');
  const table = readme.slice(start, readme.indexOf('\n## ', start + 1));
  assert.deepEqual(
    CONFIG_VARIABLES.filter((name) => !table.includes(`\`${name}\``)),
    [],
  );
});
