// `npm start`: generate local secrets, validate the config, apply local D1 migrations, run the gateway with
// wrangler dev (local D1 and KV, offline-safe) and print how to use it. Ctrl-C stops everything it started.
import {
  DEV_VARS,
  ensureDevVars,
  run,
  spawnGroup,
  validateConfigOrExit,
  WRANGLER,
  waitForHttp,
  workerVars,
} from './local';

const args = process.argv.slice(2);
const option = (name: string, fallback: string) => {
  const index = args.indexOf(`--${name}`);
  return index >= 0 && args[index + 1] ? args[index + 1]! : fallback;
};
const port = option('port', process.env.PORT ?? '8787');
const persistTo = option('persist-to', '.wrangler/state');
const varsFile = option('vars-file', DEV_VARS);

const secrets = ensureDevVars(varsFile);
validateConfigOrExit(workerVars(undefined, secrets), 'wrangler.toml [vars] + .dev.vars');

await run(WRANGLER, ['d1', 'migrations', 'apply', 'DB', '--local', '--persist-to', persistTo]);

// wrangler stays in this script's process group: whoever stops the group (Ctrl-C, the e2e harness) stops it too.
const dev = spawnGroup(
  WRANGLER,
  [
    'dev',
    '--port',
    port,
    '--ip',
    '127.0.0.1',
    '--persist-to',
    persistTo,
    '--env-file',
    varsFile,
    '--show-interactive-dev-session=false',
  ],
  { detached: false },
);
const stop = () => {
  dev.kill('SIGTERM');
  setTimeout(() => process.exit(0), 500).unref();
};
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
dev.on('exit', (code) => process.exit(code ?? 1));

const url = `http://127.0.0.1:${port}`;
await waitForHttp(`${url}/api/v1/policy`, 60_000, () => dev.exitCode === null);
console.log(`
  pat-gateway is running at ${url}
    API docs      ${url}/docs   (OpenAPI: ${url}/openapi.json)
    Dev identity  curl -s -X POST ${url}/api/v1/dev/session -H 'content-type: application/json' -d '{"user":"alice","role":"member"}'
                  or: npm run dev:token -- --user alice --role admin
  Press Ctrl-C to stop.
`);
