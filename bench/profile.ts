// Where the gateway's CPU goes: drives one scenario at the gateway while V8's sampling profiler runs in its isolate
// (through workerd's inspector), then prints the functions with the most self time and writes a .cpuprofile
// that Chrome DevTools opens. `npx tsx bench/profile.ts [scenario-id] [seconds] [connections]`.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createTokens, seedTokens } from './lib/data';
import { connectInspector } from './lib/inspector';
import { runSlice } from './lib/load';
import { scenarios, TOKEN_NAMES, targetUrl } from './lib/scenarios';
import { buildGateway, ROOT, startStack } from './lib/stack';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
  children?: number[];
}

const label = (node: ProfileNode) => {
  const { functionName, url, lineNumber } = node.callFrame;
  return `${functionName || '(anonymous)'} ${url.split('/').pop()}:${lineNumber + 1}`;
};

/** Self and total (self + callees) samples per function; recursion counted once per stack. */
function tally(nodes: ProfileNode[]) {
  const byId = new Map(nodes.map((n) => [n.id, n]));
  const self = new Map<string, number>();
  const total = new Map<string, number>();
  let all = 0;
  const walk = (node: ProfileNode, onStack: Set<string>): number => {
    const key = label(node);
    let hits = node.hitCount ?? 0;
    all += hits;
    self.set(key, (self.get(key) ?? 0) + hits);
    const fresh = !onStack.has(key);
    if (fresh) onStack.add(key);
    for (const child of node.children ?? []) hits += walk(byId.get(child)!, onStack);
    if (fresh) {
      onStack.delete(key);
      total.set(key, (total.get(key) ?? 0) + hits);
    }
    return hits;
  };
  walk(nodes[0]!, new Set());
  return { self, total, all };
}

const [scenarioId = 'hot-bearer', seconds = '5', connections = '8'] = process.argv.slice(2);
const stack = await startStack(await buildGateway(), { inspector: true });
try {
  const tokens = (await createTokens(stack, [...TOKEN_NAMES])) as Record<
    (typeof TOKEN_NAMES)[number],
    string
  >;
  const pools = { kv: await seedTokens(stack, 64), d1: await seedTokens(stack, 64) };
  const scenario = scenarios(tokens, pools, 64).find((s) => s.id === scenarioId);
  if (!scenario) throw new Error(`no scenario ${scenarioId}`);
  const worker = {
    gatewayKv: 'gateway-kv',
    bare: 'bare',
    bareKv: 'bare-kv',
    upstream: 'bare',
    gateway: 'gateway',
    floor: 'floor',
  }[scenario.target];
  const url = targetUrl(stack, scenario.target);
  await runSlice(url, scenario.request(), Number(connections), { durationMs: 1000 });

  const { call, close } = await connectInspector(stack, worker);
  await call('Profiler.enable');
  await call('Profiler.setSamplingInterval', { interval: 100 });
  await call('Profiler.start');
  const result = await runSlice(url, scenario.request(), Number(connections), {
    durationMs: Number(seconds) * 1000,
  });
  const { profile } = (await call('Profiler.stop')) as { profile: { nodes: ProfileNode[] } };
  close();
  const out = join(ROOT, 'bench/results', `${scenarioId}.cpuprofile`);
  writeFileSync(out, JSON.stringify(profile));
  const { self, total, all } = tally(profile.nodes);
  const pct = (hits: number) => `${((hits / all) * 100).toFixed(1).padStart(5)}%`;
  console.log(
    `${scenarioId}: ${((result.responses / result.elapsedMs) * 1000).toFixed(0)} req/s at c=${connections}`,
  );
  console.log('self time:');
  for (const [key, hits] of [...self].sort((a, b) => b[1] - a[1]).slice(0, 30))
    console.log(`${pct(hits)}  ${key}`);
  console.log('total time (with callees):');
  for (const [key, hits] of [...total].sort((a, b) => b[1] - a[1]).slice(0, 40))
    console.log(`${pct(hits)}  ${key}`);
  console.log(`wrote ${out}`);
} finally {
  await stack.stop();
}
