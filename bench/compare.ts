// Before and after: the hot path of the working tree against the gateway as a git ref left it, in one workerd, in
// interleaved slices next to the bare proxy. `npx tsx bench/compare.ts [ref=HEAD] [rounds=5] [slice-ms=1000] [post-bytes]`:
// with post-bytes, every target is sent a POST of a JSON body that long instead of a GET.
// The ref's tree is exported with `git archive` into a temporary folder (node_modules linked) and built there.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createTokens } from './lib/data';
import { quantile, runSlice } from './lib/load';
import { buildGateway, ROOT, startStack } from './lib/stack';

const [ref = 'HEAD', rounds = '5', sliceMs = '1000', postBytes] = process.argv.slice(2);
const EMPTY_JSON = '{"data":""}';
if (
  postBytes !== undefined &&
  !(Number.isInteger(Number(postBytes)) && Number(postBytes) >= EMPTY_JSON.length)
)
  throw new Error(`post-bytes must be a whole number of at least ${EMPTY_JSON.length}, not ${postBytes}`);
const post: { method?: 'POST'; body?: string; headers: Record<string, string> } =
  postBytes === undefined
    ? { headers: {} }
    : {
        method: 'POST' as const,
        body: JSON.stringify({ data: 'x'.repeat(Number(postBytes) - EMPTY_JSON.length) }),
        headers: { 'content-type': 'application/json' },
      };
const tree = mkdtempSync(join(tmpdir(), 'pat-gateway-ref-'));
try {
  execFileSync('sh', ['-c', `git archive ${JSON.stringify(ref)} | tar -x -C ${JSON.stringify(tree)}`], {
    cwd: ROOT,
  });
  symlinkSync(join(ROOT, 'node_modules'), join(tree, 'node_modules'));
  const before = await buildGateway(tree, 'src/index.ts', 'gateway-ref');
  const stack = await startStack(await buildGateway(), {
    otherGateways: [{ name: 'gateway-ref', script: before }],
  });
  try {
    const { hot } = await createTokens(stack, ['hot']);
    const targets = { bare: stack.bare, [ref]: stack.others['gateway-ref']!, 'working tree': stack.gateway };
    const cells = new Map<string, { responses: number; ms: number; cpuNs: number; latencies: number[] }>();
    for (let round = 0; round < Number(rounds); round++) {
      for (const connections of [1, 32]) {
        for (const [name, origin] of Object.entries(targets)) {
          const cpu = stack.workerdCpuNs();
          const request = {
            path: '/up/v1/items',
            ...post,
            headers: { authorization: `Bearer ${hot}`, ...post.headers },
            expectStatus: 200,
          };
          const r = await runSlice(origin, request, connections, { durationMs: Number(sliceMs) });
          if (r.unexpectedSample) throw new Error(`${name}: ${r.unexpectedSample}`);
          const key = `${name}\t${connections}`;
          const cell = cells.get(key) ?? { responses: 0, ms: 0, cpuNs: 0, latencies: [] };
          cell.responses += r.responses;
          cell.ms += r.elapsedMs;
          cell.cpuNs += stack.workerdCpuNs() - cpu;
          cell.latencies.push(...r.latenciesMs);
          cells.set(key, cell);
        }
      }
    }
    console.log('| target | c | req/s | p50 ms | workerd CPU µs/req |\n|---|---:|---:|---:|---:|');
    for (const [key, cell] of cells) {
      const [name, c] = key.split('\t');
      const sorted = cell.latencies.sort((a, b) => a - b);
      console.log(
        `| ${name} | ${c} | ${((cell.responses / cell.ms) * 1000).toFixed(0)} | ${quantile(sorted, 0.5).toFixed(3)} | ${(cell.cpuNs / 1000 / cell.responses).toFixed(0)} |`,
      );
    }
  } finally {
    await stack.stop();
  }
} finally {
  rmSync(tree, { recursive: true, force: true });
}
