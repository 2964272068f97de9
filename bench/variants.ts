// What each piece of forwarding costs in workerd: bench/worker/variants.js answers each request with one variant,
// each a step from the bare proxy towards the gateway's forwarding (dictionary init, header copy, identity headers,
// timeout signal and timer, relayed answer). Interleaved slices, workerd CPU per request, median over rounds.
// `npx tsx bench/variants.ts [rounds=8] [slice-ms=1500] [connections=8]`.
import { join } from 'node:path';
import { runSlice } from './lib/load';
import { childPid, cpuNs } from './lib/proc';
import { miniflare, ROOT, startUpstream } from './lib/stack';

const VARIANTS = [
  'bare',
  'init-dict',
  'headers-copy',
  'request-copy',
  'identity-headers',
  'timer-only',
  'signal-only',
  'timeout',
  'request-copy-timeout',
  'init-headers-timeout',
  'relay',
];
const [rounds = '8', sliceMs = '1500', connections = '8'] = process.argv.slice(2);

const upstream = await startUpstream();
const { Miniflare, NoOpLog } = miniflare();
const mf = new Miniflare({
  log: new NoOpLog(),
  workers: [
    {
      name: 'variants',
      compatibilityDate: '2026-04-01',
      stripCfConnectingIp: false,
      modules: [{ type: 'ESModule', path: join(ROOT, 'bench/worker/variants.js') }],
      bindings: { UPSTREAM: upstream.url },
      unsafeDirectSockets: [{ host: '127.0.0.1', port: 0 }],
    },
  ],
});
try {
  await mf.ready;
  const origin = (await mf.unsafeGetDirectURL('variants')).href.replace(/\/$/, '');
  const workerd = childPid('workerd');
  const samples = new Map<string, number[]>();
  for (let round = 0; round < Number(rounds); round++) {
    for (const variant of VARIANTS) {
      const before = cpuNs(workerd);
      const headers = { 'x-variant': variant, authorization: 'Bearer x', accept: '*/*' };
      const result = await runSlice(
        origin,
        { path: '/v1/items', headers, expectStatus: 200 },
        Number(connections),
        {
          durationMs: Number(sliceMs),
        },
      );
      if (result.unexpectedSample) throw new Error(`${variant}: ${result.unexpectedSample}`);
      samples.set(variant, [
        ...(samples.get(variant) ?? []),
        (cpuNs(workerd) - before) / 1000 / result.responses,
      ]);
    }
  }
  const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
  const bare = median(samples.get('bare')!);
  console.log('| variant | workerd CPU µs/req (median) | over bare |\n|---|---:|---:|');
  for (const variant of VARIANTS) {
    const value = median(samples.get(variant)!);
    console.log(`| ${variant} | ${value.toFixed(0)} | ${(value - bare).toFixed(0)} |`);
  }
} finally {
  await mf.dispose();
  upstream.child.kill('SIGTERM');
}
