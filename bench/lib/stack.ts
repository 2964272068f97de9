// Everything the benchmark runs against, started and stopped in one place:
//   - the gateway built exactly as production builds it (`wrangler deploy --dry-run --outdir`), entry bench/worker;
//   - workerd through miniflare's programmatic API (the miniflare that wrangler itself runs), each Worker on a
//     direct socket: no entry worker, no outbound interceptor, no Node proxy (which is what makes `wrangler dev`
//     5-12x slower); D1 and KV are miniflare's local simulators, in memory, in the same workerd process;
//   - a loopback upstream in a forked Node process.
// stop() ends exactly what start() started: workerd (miniflare's dispose) and the upstream (by pid).

import { type ChildProcess, execFile, fork } from 'node:child_process';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { childPid, cpuNs } from './proc';
import { activeRecord } from './records';

export const ROOT = new URL('../..', import.meta.url).pathname;
const BUILD_DIR = join(ROOT, 'bench/.build');
const requireHere = createRequire(import.meta.url);
/** Resolve packages as wrangler does, so the bench runs the miniflare and workerd that `wrangler` ships with. */
const requireFromWrangler = createRequire(requireHere.resolve('wrangler'));

export interface MiniflareInstance {
  ready: Promise<URL>;
  unsafeGetDirectURL(workerName?: string, entrypoint?: string): Promise<URL>;
  getInspectorURL(): Promise<URL>;
  getD1Database(binding: string, workerName?: string): Promise<D1Database>;
  getKVNamespace(binding: string, workerName?: string): Promise<KVNamespace>;
  dispose(): Promise<void>;
}
interface MiniflareModule {
  Miniflare: new (options: Record<string, unknown>) => MiniflareInstance;
  NoOpLog: new () => unknown;
}

/** The miniflare that wrangler itself runs (its own workerd), not the newer one other tooling may have hoisted. */
export function miniflare(): MiniflareModule {
  return requireFromWrangler('miniflare') as MiniflareModule;
}

export function packageVersion(name: string, from: NodeRequire = requireHere): string {
  try {
    const path = from.resolve(`${name}/package.json`);
    return (JSON.parse(readFileSync(path, 'utf8')) as { version: string }).version;
  } catch {
    // Some packages do not export package.json: find it next to the resolved entry point.
    let dir = from.resolve(name);
    while (dir !== '/' && !existsSync(join(dir, 'package.json'))) dir = join(dir, '..');
    return (JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { version: string }).version;
  }
}

export function runtimeVersions() {
  return {
    wrangler: packageVersion('wrangler'),
    miniflare: packageVersion('miniflare', requireFromWrangler),
    workerd: packageVersion('workerd', requireFromWrangler),
    autocannon: packageVersion('autocannon'),
    hono: packageVersion('hono'),
    'drizzle-orm': packageVersion('drizzle-orm'),
    jose: packageVersion('jose'),
    zod: packageVersion('zod'),
  };
}

function compatibilityDate(): string {
  const toml = readFileSync(join(ROOT, 'wrangler.toml'), 'utf8');
  const date = /^compatibility_date\s*=\s*"([\d-]+)"/m.exec(toml)?.[1];
  if (!date) throw new Error('wrangler.toml has no compatibility_date');
  return date;
}

/**
 * Bundles bench/worker/gateway.ts with wrangler's own build (the same esbuild options as `npm run deploy`), or
 * with `tree` and `entry`, another checkout's Worker.
 */
export function buildGateway(
  tree = ROOT,
  entry = 'bench/worker/gateway.ts',
  name = 'gateway',
): Promise<string> {
  const outdir = join(BUILD_DIR, name);
  rmSync(outdir, { recursive: true, force: true });
  mkdirSync(outdir, { recursive: true });
  return new Promise((resolve, reject) => {
    execFile(
      join(ROOT, 'node_modules/.bin/wrangler'),
      ['deploy', '--dry-run', '--outdir', outdir, entry],
      {
        cwd: tree,
        env: { ...process.env, CLOUDFLARE_CF_FETCH_ENABLED: 'false', WRANGLER_SEND_METRICS: 'false' },
        maxBuffer: 16 * 1024 * 1024,
      },
      (error, stdout, stderr) => {
        if (error) return reject(new Error(`wrangler build failed:\n${stdout}\n${stderr}`));
        const script = readdirSync(outdir).find((f) => f.endsWith('.js'));
        if (!script) return reject(new Error(`wrangler wrote no script into ${outdir}`));
        resolve(join(outdir, script));
      },
    );
  });
}

export function startUpstream(): Promise<{ child: ChildProcess; url: string }> {
  const child = fork(join(ROOT, 'bench/upstream.ts'), [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('the upstream did not start within 15 s')), 15_000);
    child.once('message', (message: { port: number }) => {
      clearTimeout(timer);
      resolve({ child, url: `http://127.0.0.1:${message.port}` });
    });
    child.once('exit', (code) => reject(new Error(`the upstream exited with ${code}`)));
  });
}

export interface BenchSecrets {
  pepper: string;
  hs256: string;
  signingKey: string;
}

export function benchSecrets(): BenchSecrets {
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  return {
    pepper: randomBytes(32).toString('hex'),
    hs256: randomBytes(32).toString('hex'),
    signingKey: JSON.stringify({ ...privateKey.export({ format: 'jwk' }), kid: 'bench-signing-key' }),
  };
}

/** A production configuration (ENVIRONMENT=production passes the Worker's own schema) with the bench routes. */
export function gatewayVars(upstream: string, secrets: BenchSecrets, extra: Record<string, string> = {}) {
  const scopes = { GET: ['read'], HEAD: ['read'], '*': ['write'] };
  const routes = [
    {
      // Every token source on: the most work extraction can do (as the README's `rpc` example).
      name: 'up',
      match: { path_prefix: '/up' },
      upstream: { url: `${upstream}/` },
      token_sources: { query: ['token'], path: 'last' },
      scopes,
    },
    {
      // The same, telling the upstream nothing about the caller: what an operator buys back with `identity: none`.
      name: 'lean',
      match: { path_prefix: '/lean' },
      upstream: { url: `${upstream}/` },
      token_sources: { query: ['token'], path: 'last' },
      scopes,
      identity: 'none',
    },
    {
      name: 'strict',
      match: { path_prefix: '/strict' },
      upstream: { url: `${upstream}/` },
      strict: true,
      scopes,
    },
  ];
  return {
    ENVIRONMENT: 'production',
    TOKEN_PREFIX: 'pat_',
    TOKEN_PEPPER: secrets.pepper,
    AUTH_ISSUER: 'pat-gateway-bench',
    AUTH_AUDIENCE: 'pat-gateway',
    AUTH_HS256_SECRET: secrets.hs256,
    GATEWAY_SIGNING_KEY: secrets.signingKey,
    ROUTES: JSON.stringify(routes),
    BENCH_STATS: 'true',
    ...extra,
  };
}

/** A record the size of a token's, read by the `bare-kv` Worker on every request. */
const KV_REFERENCE_KEY = 'bench:reference';

export interface Stack {
  upstream: string;
  bare: string;
  /** The bare proxy plus one KV read per request: what the local KV simulator alone costs. */
  bareKv: string;
  /**
   * bench/worker/variants.js: forwarding steps without any verification, the floor under any gateway that strips
   * the token (the request's `x-variant` header picks the step).
   */
  floor: string;
  gateway: string;
  gatewayControl: string;
  /** A second gateway Worker (own isolate) with CACHE_TTL_SECONDS=0: every verification reads KV. */
  gatewayKv: string;
  gatewayKvControl: string;
  secrets: BenchSecrets;
  mf: MiniflareInstance;
  /** URLs of `options.otherGateways`, by name. */
  others: Record<string, string>;
  /** CPU time (ns) workerd has used so far, all threads: what the Workers cost, free of load-generator noise. */
  workerdCpuNs(): number;
  /** The last lines workerd printed, for error messages. */
  runtimeOutput(): string;
  stop(): Promise<void>;
}

export interface StackOptions {
  /** workerd's DevTools inspector on (heap readings, CPU profiles). Off for throughput runs. */
  inspector?: boolean;
  /** Only the hot gateway Worker: no bare proxy, no KV-path instance. */
  gatewayOnly?: boolean;
  extraVars?: Record<string, string>;
  /** More gateway Workers (another build, e.g. an older commit's), same config and storage, default socket only. */
  otherGateways?: { name: string; script: string }[];
}

export async function startStack(script: string, options: StackOptions = {}): Promise<Stack> {
  const { Miniflare, NoOpLog } = miniflare();
  const upstream = await startUpstream();
  const secrets = benchSecrets();
  const output: string[] = [];
  const keep = (chunk: Buffer) => {
    output.push(chunk.toString());
    if (output.length > 50) output.shift();
  };
  const direct = [{ host: '127.0.0.1', port: 0 }];
  const storage = { d1Databases: { DB: 'bench-db' }, kvNamespaces: { TOKEN_CACHE: 'bench-kv' } };
  const base = {
    compatibilityDate: compatibilityDate(),
    // Without this miniflare routes every outbound fetch through an extra JS worker; production has no such hop.
    stripCfConnectingIp: false,
  };
  const gateway = (name: string, extra: Record<string, string>) => ({
    ...base,
    ...storage,
    name,
    modules: [{ type: 'ESModule', path: script }],
    bindings: gatewayVars(upstream.url, secrets, { ...options.extraVars, ...extra }),
    unsafeDirectSockets: [...direct, { host: '127.0.0.1', port: 0, entrypoint: 'BenchControl' }],
  });
  const workers = [gateway('gateway', {})];
  for (const other of options.otherGateways ?? [])
    workers.push({
      ...gateway(other.name, {}),
      modules: [{ type: 'ESModule', path: other.script }],
      unsafeDirectSockets: direct,
    });
  if (!options.gatewayOnly) {
    workers.push(gateway('gateway-kv', { CACHE_TTL_SECONDS: '0' }));
    const bare = {
      ...base,
      name: 'bare',
      modules: [{ type: 'ESModule', path: join(ROOT, 'bench/worker/bare-proxy.js') }],
      bindings: { UPSTREAM: upstream.url },
      unsafeDirectSockets: direct,
    };
    workers.push(
      bare as never,
      {
        ...bare,
        ...storage,
        name: 'bare-kv',
        bindings: { UPSTREAM: upstream.url, KV_KEY: KV_REFERENCE_KEY },
      } as never,
      {
        ...bare,
        name: 'floor',
        modules: [{ type: 'ESModule', path: join(ROOT, 'bench/worker/variants.js') }],
      } as never,
    );
  }
  let mf: MiniflareInstance | undefined;
  const stop = async () => {
    try {
      await mf?.dispose();
    } finally {
      upstream.child.kill('SIGTERM');
    }
  };
  try {
    mf = new Miniflare({
      log: new NoOpLog(),
      ...(options.inspector ? { inspectorPort: 0 } : {}),
      handleRuntimeStdio(stdout: NodeJS.ReadableStream, stderr: NodeJS.ReadableStream) {
        stdout.on('data', keep);
        stderr.on('data', keep);
      },
      workers,
    });
    await mf.ready;
    const workerd = childPid('workerd');
    const url = async (name: string, entrypoint?: string) =>
      (await mf!.unsafeGetDirectURL(name, entrypoint)).href.replace(/\/$/, '');
    const stack: Stack = {
      upstream: upstream.url,
      gateway: await url('gateway'),
      gatewayControl: await url('gateway', 'BenchControl'),
      bare: options.gatewayOnly ? '' : await url('bare'),
      bareKv: options.gatewayOnly ? '' : await url('bare-kv'),
      floor: options.gatewayOnly ? '' : await url('floor'),
      gatewayKv: options.gatewayOnly ? '' : await url('gateway-kv'),
      gatewayKvControl: options.gatewayOnly ? '' : await url('gateway-kv', 'BenchControl'),
      secrets,
      mf,
      others: Object.fromEntries(
        await Promise.all(
          (options.otherGateways ?? []).map(async (o) => [o.name, await url(o.name)] as const),
        ),
      ),
      workerdCpuNs: () => cpuNs(workerd),
      runtimeOutput: () => output.join(''),
      stop,
    };
    await applyMigrations(await mf.getD1Database('DB', 'gateway'));
    if (!options.gatewayOnly) {
      const kv = await mf.getKVNamespace('TOKEN_CACHE', 'bare-kv');
      await kv.put(KV_REFERENCE_KEY, JSON.stringify(activeRecord('benchreference00', Date.now())));
    }
    return stack;
  } catch (error) {
    await stop();
    throw error;
  }
}

async function applyMigrations(db: D1Database) {
  const dir = join(ROOT, 'migrations');
  for (const file of readdirSync(dir)
    .filter((f) => f.endsWith('.sql'))
    .sort()) {
    const statements = readFileSync(join(dir, file), 'utf8')
      .split('--> statement-breakpoint')
      .map((s) => s.trim())
      .filter(Boolean);
    for (const statement of statements) await db.prepare(statement).run();
  }
}
