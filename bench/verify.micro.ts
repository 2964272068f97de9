// Micro-benchmark of the verify path's own functions, inside workerd (bench/worker/micro.ts runs the loops).
// workerd's clock stands still while JavaScript runs, so each case is timed from outside: a call with n iterations
// minus a call with none, interleaved and repeated, median taken. Standalone: `npx tsx bench/verify.micro.ts`.
import { fileURLToPath } from 'node:url';
import { ASYNC_MICRO_CASES, MICRO_CASES } from './lib/micro-cases';
import { buildGateway, startStack } from './lib/stack';

export interface MicroResult {
  case: string;
  iterations: number;
  nsPerOp: number;
}

async function timedCall(control: string, name: string, n: number): Promise<number> {
  const started = process.hrtime.bigint();
  const res = await fetch(`${control}/micro?case=${name}&n=${n}`);
  if (!res.ok) throw new Error(`micro ${name}: ${res.status} ${await res.text()}`);
  await res.arrayBuffer();
  return Number(process.hrtime.bigint() - started);
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

export async function runMicroSuite(control: string, scale = 1, repeats = 5): Promise<MicroResult[]> {
  const results: MicroResult[] = [];
  for (const name of MICRO_CASES) {
    const n = Math.max(10, Math.round((ASYNC_MICRO_CASES.has(name) ? 5_000 : 20_000) * scale));
    await timedCall(control, name, n); // warm-up: JIT and caches
    const diffs: number[] = [];
    for (let i = 0; i < repeats; i++) {
      const empty = await timedCall(control, name, 0);
      const full = await timedCall(control, name, n);
      diffs.push(full - empty);
    }
    results.push({ case: name, iterations: n, nsPerOp: Math.max(0, median(diffs) / n) });
  }
  return results;
}

export function microTable(results: MicroResult[]): string {
  const lines = ['| case | ns/op |', '|---|---:|'];
  for (const r of results) lines.push(`| ${r.case} | ${r.nsPerOp.toFixed(0)} |`);
  return lines.join('\n');
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const stack = await startStack(await buildGateway(), { extraVars: {} });
  try {
    console.log(microTable(await runMicroSuite(stack.gatewayControl)));
  } finally {
    await stack.stop();
  }
}
