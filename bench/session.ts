// One benchmark session (started by bench/run.ts, which bounds its time and cleans up after it):
// build → start workerd + upstream → create tokens → check every scenario answers as expected → warm up →
// interleaved rounds (each round runs a short slice of every scenario at every concurrency, in a rotated order,
// so machine drift lands on all of them alike) → micro-benchmark → memory run → table + JSON.
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { join } from 'node:path';
import { createTokens, readStats, seedTokens, upstreamStats } from './lib/data';
import { quantile, runSlice } from './lib/load';
import { type MemoryResult, memoryRun } from './lib/memory';
import { type CellSummary, evaluateTargets, renderReport, type SliceRecord, summarise } from './lib/report';
import { controlUrl, type Scenario, scenarios, TOKEN_NAMES, targetUrl } from './lib/scenarios';
import { buildGateway, ROOT, runtimeVersions, type Stack, startStack } from './lib/stack';
import { runMicroSuite } from './verify.micro';

export interface Options {
  smoke: boolean;
  concurrency: number[];
  sliceMs: number;
  rounds: number;
  warmupMs: number;
  unknownPool: number;
  /** Valid tokens rotated on the KV and D1 paths. */
  pathPool: number;
  memoryHttpTokens: number;
  memoryFillTokens: number;
  microScale: number;
  out: string | null;
}

function parseOptions(argv: string[]): Options {
  const smoke = argv.includes('--smoke');
  const value = (name: string) => {
    const i = argv.indexOf(`--${name}`);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  const num = (name: string, fallback: number) => {
    const raw = value(name);
    const parsed = raw === undefined ? fallback : Number(raw);
    if (!Number.isFinite(parsed) || parsed < 0) throw new Error(`--${name} must be a number`);
    return parsed;
  };
  const concurrency = (value('concurrency') ?? (smoke ? '1,4' : '1,32')).split(',').map(Number);
  if (concurrency.some((c) => !Number.isInteger(c) || c < 1)) throw new Error('--concurrency: e.g. 1,32');
  return {
    smoke,
    concurrency,
    sliceMs: num('slice-ms', smoke ? 150 : 1000),
    rounds: num('rounds', smoke ? 1 : 4),
    warmupMs: num('warmup-ms', smoke ? 50 : 400),
    unknownPool: num('unknown-pool', 64),
    pathPool: num('path-pool', 64),
    memoryHttpTokens: num('memory-http-tokens', smoke ? 100 : 1_000),
    memoryFillTokens: num('memory-tokens', smoke ? 2000 : 100_000),
    microScale: num('micro-scale', smoke ? 0.05 : 1),
    out: value('out') ?? (smoke ? null : join(ROOT, 'bench/results', `bench-${stamp()}.json`)),
  };
}

/** The commit measured, with `+changes` when the working tree differs from it (so a result names its code). */
function gitCommit(): string {
  const git = (...args: string[]) => execFileSync('git', args, { cwd: ROOT, encoding: 'utf8' }).trim();
  try {
    return (
      git('rev-parse', '--short', 'HEAD') +
      (git('status', '--porcelain', '--', 'src', 'bench', 'wrangler.toml') ? '+changes' : '')
    );
  } catch {
    return 'unknown';
  }
}

function stamp() {
  return new Date().toISOString().replace(/[:.]/g, '-').slice(0, 19);
}

const begun = Date.now();
const log = (message: string) =>
  process.stderr.write(`[bench ${((Date.now() - begun) / 1000).toFixed(0).padStart(3)} s] ${message}\n`);

async function main() {
  const options = parseOptions(process.argv.slice(2));
  const started = Date.now();
  const environment = {
    date: new Date().toISOString(),
    commit: gitCommit(),
    cpu: cpus()[0]?.model ?? 'unknown',
    cores: cpus().length,
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    node: process.version,
    platform: `${process.platform} ${process.arch}`,
    ...runtimeVersions(),
  };
  log(`building the gateway (wrangler deploy --dry-run)`);
  const script = await buildGateway();
  log(`starting workerd and the upstream`);
  // The smoke run reads the heap from the same workerd; a full run keeps the inspector off while measuring.
  const stack = await startStack(script, { inspector: options.smoke });
  const slices: SliceRecord[] = [];
  let micro: Awaited<ReturnType<typeof runMicroSuite>> = [];
  let upstream = { requests: 0, leaked: 0, badBodies: 0 };
  let memory: MemoryResult | undefined;
  try {
    const tokens = (await createTokens(stack, [...TOKEN_NAMES])) as Record<
      (typeof TOKEN_NAMES)[number],
      string
    >;
    const pools = {
      kv: await seedTokens(stack, options.pathPool),
      d1: await seedTokens(stack, options.pathPool),
    };
    const list = scenarios(tokens, pools, options.unknownPool);
    for (const scenario of list) await check(stack, scenario);

    log(`warming up`);
    const warmConnections = Math.min(8, Math.max(...options.concurrency));
    for (const scenario of list) {
      await runSlice(targetUrl(stack, scenario.target), scenario.request(), warmConnections, {
        durationMs: options.warmupMs,
      });
    }

    const cells = options.rounds * options.concurrency.length * list.length;
    log(
      `${cells} slices of ${options.sliceMs} ms (${options.rounds} rounds, c=${options.concurrency.join(',')})`,
    );
    for (let round = 0; round < options.rounds; round++) {
      for (const connections of options.concurrency) {
        // Rotate the order every round so no scenario always follows the same neighbour.
        const order = list.map((_, i) => list[(i + round) % list.length]!);
        for (const scenario of order) {
          const control = controlUrl(stack, scenario.target);
          const before = control ? await readStats(control) : null;
          const request = { ...scenario.request(), expectStatus: scenario.expectStatus };
          const cpuBefore = stack.workerdCpuNs();
          const result = await runSlice(targetUrl(stack, scenario.target), request, connections, {
            durationMs: options.sliceMs,
          });
          const workerdCpuNs = stack.workerdCpuNs() - cpuBefore;
          const after = control ? await readStats(control) : null;
          slices.push({
            scenario: scenario.id,
            connections,
            round,
            result,
            expectStatus: scenario.expectStatus,
            reads:
              before && after
                ? {
                    kv: after.kvReads - before.kvReads,
                    d1: after.d1Reads - before.d1Reads,
                    memory: after.memoryHits - before.memoryHits,
                  }
                : null,
            distinctTokens: scenario.distinctTokens?.() ?? null,
            workerdCpuNs,
          });
        }
      }
    }
    upstream = await upstreamStats(stack.upstream);
    log(`micro-benchmark of the verify path`);
    micro = await runMicroSuite(stack.gatewayControl, options.microScale, options.smoke ? 3 : 5);
    if (options.smoke) memory = await measureMemory(stack, options);
  } catch (error) {
    log(`workerd said:\n${stack.runtimeOutput()}`);
    throw error;
  } finally {
    await stack.stop();
  }
  if (!memory) {
    const memoryStack = await startStack(script, { inspector: true, gatewayOnly: true });
    try {
      memory = await measureMemory(memoryStack, options);
    } catch (error) {
      log(`workerd said:\n${memoryStack.runtimeOutput()}`);
      throw error;
    } finally {
      await memoryStack.stop();
    }
  }

  const summary: CellSummary[] = summarise(
    slices,
    scenarios({} as never, { kv: Array(options.pathPool), d1: Array(options.pathPool) }, options.unknownPool),
  );
  const targets = evaluateTargets(summary, slices, memory, options.concurrency, upstream);
  const report = {
    environment,
    method: {
      runtime: 'workerd via miniflare (programmatic API), each Worker on its own direct socket',
      build:
        'wrangler deploy --dry-run --outdir (bench/worker/gateway.ts = src/index.ts + BenchControl entrypoint)',
      loadGenerator: 'autocannon, keep-alive, pipelining 1, latency per response from process.hrtime',
      upstream: 'Node http server in its own process, 200 "ok"',
      ...options,
      durationSeconds: Math.round((Date.now() - started) / 1000),
    },
    summary,
    targets,
    memory,
    micro,
    upstreamTokenLeaks: upstream.leaked,
    upstreamBadBodies: upstream.badBodies,
    slices: slices.map(({ result, ...rest }) => ({
      ...rest,
      responses: result.responses,
      elapsedMs: Math.round(result.elapsedMs),
      p50Ms: quantile(
        [...result.latenciesMs].sort((a, b) => a - b),
        0.5,
      ),
      statuses: result.statuses,
      errors: result.errors,
      unexpectedSample: result.unexpectedSample,
    })),
  };
  console.log(renderReport(report));
  if (options.out) {
    mkdirSync(join(options.out, '..'), { recursive: true });
    writeFileSync(options.out, `${JSON.stringify(report, null, 2)}\n`);
    log(`wrote ${options.out}`);
  }
  const broken = targets.filter((t) => t.gate && !t.met);
  if (broken.length) {
    log(`FAILED correctness gates: ${broken.map((t) => t.id).join(', ')}`);
    process.exitCode = 1;
  }
}

function measureMemory(stack: Stack, options: Options) {
  log(
    `memory: ${options.memoryHttpTokens} distinct tokens over HTTP, then ${options.memoryFillTokens} in the isolate`,
  );
  return memoryRun(
    stack,
    options.memoryHttpTokens,
    options.memoryFillTokens,
    Math.max(...options.concurrency),
  );
}

/** One request per scenario before measuring: a wrong status would make every number meaningless. */
async function check(stack: Stack, scenario: Scenario) {
  const request = scenario.request();
  const headers = { ...request.headers, ...request.dynamicHeaders?.() };
  const res = await fetch(targetUrl(stack, scenario.target) + request.path, { headers });
  const body = await res.text();
  if (res.status !== scenario.expectStatus)
    throw new Error(
      `${scenario.id}: expected ${scenario.expectStatus}, got ${res.status}: ${body.slice(0, 300)}`,
    );
}

await main();
