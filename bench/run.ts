// `npm run bench` / `npm run bench:smoke`: runs bench/session.ts in a process group of its own, under a hard time
// limit. Whatever happens (success, failure, Ctrl-C, the limit), the whole group is then signalled: workerd, the
// upstream and tsx's own child go with it, and nothing else on the machine is touched.
import { type ChildProcess, spawn } from 'node:child_process';

const ROOT = new URL('..', import.meta.url).pathname;

const args = process.argv.slice(2);
const smoke = args.includes('--smoke');
const limitArg = args.indexOf('--time-limit-s');
const limitSeconds = limitArg >= 0 ? Number(args[limitArg + 1]) : smoke ? 90 : 420;

/** Signals every process in the child's group; the group outlives its leader, so this works after it exited. */
function stopGroup(target: ChildProcess, signal: NodeJS.Signals) {
  if (!target.pid) return;
  try {
    process.kill(-target.pid, signal);
  } catch {
    // Nothing is left in the group.
  }
}

const child = spawn(`${ROOT}node_modules/.bin/tsx`, ['bench/session.ts', ...args], {
  cwd: ROOT,
  detached: true,
  stdio: ['ignore', 'inherit', 'inherit'],
  env: { ...process.env, CLOUDFLARE_CF_FETCH_ENABLED: 'false', WRANGLER_SEND_METRICS: 'false' },
});
let reason: string | null = null;
const stop = (why: string) => {
  reason ??= why;
  stopGroup(child, 'SIGTERM');
  setTimeout(() => stopGroup(child, 'SIGKILL'), 3000).unref();
};
const limit = setTimeout(() => stop(`time limit of ${limitSeconds} s reached`), limitSeconds * 1000);
process.on('SIGINT', () => stop('interrupted'));
process.on('SIGTERM', () => stop('terminated'));

const code = await new Promise<number>((resolve) =>
  child.on('exit', (exitCode, signal) => resolve(exitCode ?? (signal ? 1 : 0))),
);
clearTimeout(limit);
// The leader is gone; anything it left in the group (workerd, the upstream) goes now.
stopGroup(child, 'SIGKILL');
if (reason) console.error(`[bench] stopped: ${reason}`);
process.exit(reason ? 1 : code);
