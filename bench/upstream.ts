// The benchmark's upstream: a minimal keep-alive HTTP server on loopback, in a process of its own (forked by the
// harness) so its CPU is not the load generator's. It reads each request to its end, answers a tiny 200, and counts
// requests that still carry a token and requests whose body is not what they announced (bytes other than their
// Content-Length, or a POST without any: every POST here has a body); both must stay zero.
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

const prefix = process.env.BENCH_TOKEN_PREFIX ?? 'pat_';
let requests = 0;
let leaked = 0;
let badBodies = 0;

const server = createServer((req, res) => {
  const url = req.url ?? '';
  if (url === '/__upstream/stats') {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ requests, leaked, badBodies }));
    return;
  }
  requests++;
  if (url.includes(prefix) || req.headers.authorization || req.headers['x-pat']) leaked++;
  let bytes = 0;
  req.on('data', (chunk: Buffer) => {
    bytes += chunk.length;
  });
  req.on('end', () => {
    const length = req.headers['content-length'];
    if ((length !== undefined && Number(length) !== bytes) || (req.method === 'POST' && bytes === 0))
      badBodies++;
    res.writeHead(200, { 'content-type': 'text/plain', 'content-length': '2' });
    res.end('ok');
  });
});
server.keepAliveTimeout = 60_000;
server.listen(0, '127.0.0.1', () => {
  process.send?.({ port: (server.address() as AddressInfo).port });
});
// The harness owns this process: when it goes away (or says so), so does the upstream.
process.on('disconnect', () => process.exit(0));
process.on('SIGTERM', () => process.exit(0));
