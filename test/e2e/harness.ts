// End-to-end harness: real upstream servers on loopback (HTTP echo + WebSocket echo) and the real gateway
// (`npm start`'s script: wrangler dev with local D1/KV) in its own process group, in a temporary state folder.
// stop() ends exactly the processes it started, by process-group id.
import { type ChildProcess, execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { WebSocketServer } from 'ws';
import { ensureDevVars, ROOT, spawnGroup, stopGroup, waitForHttp, workerVars } from '../../scripts/local';

export interface Received {
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
  bytes: number;
  sha256: string;
}

export interface Harness {
  gateway: string;
  /** `received`: requests read to their end; `begun`: the URL of every request as it arrived, read whole or not. */
  upstream: { port: number; received: Received[]; begun: string[] };
  stop(): Promise<void>;
  /** Stops and starts the gateway again on the same port and persisted state. */
  restart(): Promise<void>;
  gatewayGroup(): number;
}

const listen = (server: Server) =>
  new Promise<number>((resolve) =>
    server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port)),
  );

/**
 * An HTTP upstream that records exactly what it received and can send a large body (GET /download/<bytes>) or a
 * slow one (GET /slow/<ms>: the head and `first;` at once, `last` after <ms>), answer late (GET /late/<ms>), send
 * an event stream (GET /events/<ms>: one event at once, another after <ms>), or never read a request body nor answer
 * (POST /stall).
 */
function httpUpstream(received: Received[], begun: string[]): Server {
  return createServer((req, res) => {
    begun.push(req.url ?? '');
    if (req.url?.endsWith('/stall')) {
      req.pause();
      return void setTimeout(() => req.destroy(), 20_000).unref();
    }
    const hash = createHash('sha256');
    let bytes = 0;
    req.on('data', (chunk: Buffer) => {
      bytes += chunk.length;
      hash.update(chunk);
    });
    req.on('end', () => {
      const record = {
        method: req.method ?? '',
        url: req.url ?? '',
        headers: req.headers,
        bytes,
        sha256: hash.digest('hex'),
      };
      received.push(record);
      const slow = /\/slow\/(\d+)$/.exec(req.url ?? '');
      if (slow) {
        res.writeHead(200, { 'content-type': 'text/plain' });
        res.write('first;');
        return void setTimeout(() => res.end('last'), Number(slow[1]));
      }
      const events = /\/events\/(\d+)$/.exec(req.url ?? '');
      if (events) {
        res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
        res.write('data: one\n\n');
        return void setTimeout(() => res.end('data: two\n\n'), Number(events[1]));
      }
      const late = /\/late\/(\d+)$/.exec(req.url ?? '');
      if (late) return void setTimeout(() => res.end('late'), Number(late[1]));
      const download = /\/download\/(\d+)$/.exec(req.url ?? '');
      if (download) {
        let left = Number(download[1]);
        res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(left) });
        const chunk = Buffer.alloc(64 * 1024, 7);
        const pump = () => {
          while (left > 0) {
            const part = chunk.subarray(0, Math.min(chunk.length, left));
            left -= part.length;
            if (!res.write(part)) return void res.once('drain', pump);
          }
          res.end();
        };
        return pump();
      }
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify(record));
    });
  });
}

async function freePort(): Promise<number> {
  const server = createServer();
  const port = await listen(server);
  await new Promise((r) => server.close(r));
  return port;
}

/**
 * Gateways this process started and has not stopped yet. Killed if the process exits or is told to stop (Ctrl-C, a
 * CI time limit) before a test's `after` hook could: their process groups are their own and would outlive it.
 */
const running = new Set<() => void>();
let guarded = false;
function killOnExit(kill: () => void): void {
  running.add(kill);
  if (guarded) return;
  guarded = true;
  const killAll = () => {
    for (const each of running)
      try {
        each();
      } catch {
        // Kill the others anyway.
      }
  };
  process.once('exit', killAll);
  for (const [signal, code] of [
    ['SIGHUP', 129],
    ['SIGINT', 130],
    ['SIGTERM', 143],
  ] as const)
    process.once(signal, () => {
      killAll();
      process.exit(code);
    });
}

export async function startHarness(): Promise<Harness> {
  const received: Received[] = [];
  const begun: string[] = [];
  const http = httpUpstream(received, begun);
  const upstreamPort = await listen(http);
  const wsHttp = createServer();
  const wss = new WebSocketServer({ server: wsHttp });
  wss.on('connection', (socket, request) => {
    socket.send(JSON.stringify({ hello: true, url: request.url, headers: request.headers }));
    // Text back with `echo:` in front, binary back as it came.
    socket.on('message', (data, isBinary) =>
      socket.send(isBinary ? (data as Buffer) : `echo:${data.toString()}`),
    );
  });
  const wsPort = await listen(wsHttp);

  const state = mkdtempSync(join(tmpdir(), 'pat-gateway-e2e-'));
  const upstream = `http://127.0.0.1:${upstreamPort}/`;
  const readWrite = { GET: ['read'], HEAD: ['read'], '*': ['write'] };
  // The demo routes from wrangler.toml (the README uses them), plus routes to this run's upstreams.
  const demo = JSON.parse(String(workerVars(undefined, {}).ROUTES)) as unknown[];
  const routes = [
    ...demo,
    {
      name: 'e2e',
      match: { path_prefix: '/e2e' },
      upstream: { url: upstream },
      token_sources: { query: ['token'], path: 'last' },
      scopes: readWrite,
    },
    {
      name: 'e2e-ipfs',
      match: { path_prefix: '/e2e-ipfs' },
      upstream: { url: upstream },
      token_sources: { path: 'first' },
      scopes: ['read'],
    },
    // A short timeout, for a body that keeps streaming after it.
    {
      name: 'e2e-slow',
      match: { path_prefix: '/e2e-slow' },
      upstream: { url: upstream },
      timeout_ms: 300,
    },
    {
      name: 'ws-slow',
      match: { path_prefix: '/ws-slow' },
      upstream: { url: `http://127.0.0.1:${wsPort}/` },
      timeout_ms: 300,
    },
    { name: 'ws', match: { path_prefix: '/ws' }, upstream: { url: `http://127.0.0.1:${wsPort}/` } },
    // A browser app served from the upstream's origin (another port, so another origin) may call this route.
    {
      name: 'e2e-cors',
      match: { path_prefix: '/e2e-cors' },
      upstream: { url: upstream },
      cors: { origins: [`http://127.0.0.1:${upstreamPort}`] },
    },
  ];
  const envFile = join(state, '.dev.vars');
  ensureDevVars(envFile);
  // Open WebSockets check their token every 2 s instead of 60, so a test sees a revocation close one.
  writeFileSync(envFile, `ROUTES='${JSON.stringify(routes)}'\nGATEWAY_RECHECK_SECONDS=2\n`, { flag: 'a' });

  const port = await freePort();
  const gateway = `http://127.0.0.1:${port}`;
  let child: ChildProcess;
  let output = '';
  /** Starts the gateway on this run's port and state folder, and waits until it answers. */
  const launch = async () => {
    output = '';
    child = spawnGroup(
      `${ROOT}node_modules/.bin/tsx`,
      [
        'scripts/start.ts',
        '--port',
        String(port),
        '--persist-to',
        join(state, 'wrangler'),
        '--vars-file',
        envFile,
      ],
      { quiet: !process.env.E2E_VERBOSE },
    );
    killOnExit(kill);
    child.stdout?.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr?.on('data', (d: Buffer) => (output += d.toString()));
    await waitForHttp(`${gateway}/healthz`, 90_000, () => child.exitCode === null);
  };
  const kill = () => {
    stopGroup(child, 'SIGKILL');
    rmSync(state, { recursive: true, force: true });
  };
  /** Stops the gateway's whole process group (wrangler and workerd included). */
  const halt = async () => {
    stopGroup(child);
    await new Promise((r) => setTimeout(r, 500));
    stopGroup(child, 'SIGKILL');
    child.stdout?.destroy();
    child.stderr?.destroy();
  };
  const stop = async () => {
    await halt();
    for (const client of wss.clients) client.terminate();
    http.closeAllConnections();
    wsHttp.closeAllConnections();
    await Promise.all([
      new Promise((r) => http.close(r)),
      new Promise((r) => wss.close(() => wsHttp.close(r))),
    ]);
    rmSync(state, { recursive: true, force: true });
    running.delete(kill);
  };
  try {
    await launch();
  } catch (error) {
    await stop();
    throw new Error(`${(error as Error).message}\n--- gateway output ---\n${output}`);
  }
  // A restart keeps the state folder: what D1 and KV hold must survive it.
  const restart = async () => {
    await halt();
    await launch();
  };
  /** Process group id of the running gateway (for memory readings). */
  const gatewayGroup = () => child.pid ?? 0;
  return { gateway, upstream: { port: upstreamPort, received, begun }, stop, restart, gatewayGroup };
}

/** Runs curl and returns status, headers and body. */
export function curl(args: string[]): Promise<{ status: number; body: string; headers: string }> {
  return new Promise((resolve, reject) => {
    execFile('curl', ['-sS', '-D', '-', ...args], { maxBuffer: 64 * 1024 * 1024 }, (error, stdout) => {
      if (error) return reject(error);
      const split = stdout.indexOf('\r\n\r\n');
      const head = stdout.slice(0, split);
      resolve({
        status: Number(/^HTTP\/[\d.]+ (\d+)/.exec(head)?.[1]),
        headers: head.toLowerCase(),
        body: stdout.slice(split + 4),
      });
    });
  });
}
