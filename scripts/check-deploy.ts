// `npm run check:deploy`: what CI can check of a production deploy without an account. The production vars in
// wrangler.toml must pass the Worker's config schema (with stand-in secrets) and hold routes, dev-only settings must
// be refused there, and `wrangler deploy --dry-run --env production` must bundle the Worker. Secrets and vars set
// only in the Cloudflare dashboard are not here: the Worker checks them on its first request.
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { unstable_readConfig } from 'wrangler';
import { LEAK_LIMIT } from '../src/api/credentials-revoke';
import { parseConfig } from '../src/config';
import { AUTH_FAILURE_LIMIT } from '../src/gateway/abuse';
import { KV_SYNC_CRON } from '../src/tokens/kv-sync';
import { ROOT, run, validateConfigOrExit, WRANGLER, workerVars } from './local';

const standIn = () => randomBytes(32).toString('hex');
const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const signingKey = JSON.stringify({ ...privateKey.export({ format: 'jwk' }), kid: 'ci-stand-in' });
const production = workerVars('production', { TOKEN_PEPPER: standIn(), GATEWAY_SIGNING_KEY: signingKey });
validateConfigOrExit(production, 'wrangler.toml [env.production.vars]');
// [env.production.vars] does not inherit [vars]: without its own ROUTES the deployed gateway would proxy nothing.
if (parseConfig(production).routes.length === 0) {
  console.error('✖ wrangler.toml [env.production.vars] has no ROUTES: the gateway would proxy nothing');
  process.exit(1);
}

// The guard rails must hold: production refuses dev sessions and dev_ secrets.
for (const [label, override] of [
  ['DEV_SESSIONS=true', { DEV_SESSIONS: 'true' }],
  ['a dev_ pepper', { TOKEN_PEPPER: `dev_${standIn()}` }],
] as const) {
  let refused = false;
  try {
    parseConfig({ ...production, ...override });
  } catch {
    refused = true;
  }
  if (!refused) {
    console.error(`✖ production config accepted ${label}`);
    process.exit(1);
  }
}
console.log('✔ production config is valid and refuses development settings');

// The Rate Limiting bindings count what the code documents (and what the local fallback enforces).
const deployed = unstable_readConfig(
  { config: `${ROOT}wrangler.toml`, env: 'production' },
  { hideWarnings: true },
);
for (const expected of [LEAK_LIMIT, AUTH_FAILURE_LIMIT]) {
  const binding = (deployed.ratelimits as { name: string; simple: { limit: number; period: number } }[]).find(
    (r) => r.name === expected.binding,
  );
  if (binding?.simple.limit !== expected.limit || binding.simple.period !== expected.periodSeconds) {
    console.error(
      `✖ wrangler.toml [[env.production.ratelimits]] ${expected.binding} must be { limit = ${expected.limit}, period = ${expected.periodSeconds} }, found ${JSON.stringify(binding?.simple ?? null)}`,
    );
    process.exit(1);
  }
}
console.log('✔ rate limiting bindings match the limits in the code');

// Without the minute cron, what a large change or a KV outage leaves in kv_outbox would never reach KV.
const crons = (deployed.triggers as { crons?: string[] } | undefined)?.crons ?? [];
if (!crons.includes(KV_SYNC_CRON)) {
  console.error(
    `✖ wrangler.toml [env.production.triggers] crons must include "${KV_SYNC_CRON}" (src/tokens/kv-sync.ts), found ${JSON.stringify(crons)}`,
  );
  process.exit(1);
}
console.log('✔ the minute cron that settles kv_outbox is scheduled');

await run(WRANGLER, ['deploy', '--dry-run', '--env', 'production', '--outdir', 'dist']);
