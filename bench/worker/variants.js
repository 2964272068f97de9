// What each piece of forwarding costs in workerd, one variant per request (header `x-variant`), each a small step
// from the bare proxy towards what the gateway does. bench/variants.ts drives it. Bench-only.
/** @type {[string, string][]} */
const IDENTITY = [
  ['x-pat-user-id', 'usr_0123456789abcdef'],
  ['x-pat-token-id', 'tok_0123456789abcdef'],
  ['x-pat-token-type', 'personal'],
  ['x-pat-scopes', 'read write'],
  ['x-pat-identity', 'eyJ'.repeat(150)],
  ['x-forwarded-proto', 'http'],
  ['x-forwarded-host', 'gateway.test'],
];
const HOP = [
  'connection',
  'keep-alive',
  'proxy-authenticate',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
];

/** @param {Request} request @param {Headers} headers @param {boolean} timed @param {string} target */
async function send(request, headers, timed, target) {
  if (!timed) return fetch(target, { method: request.method, headers, redirect: 'manual' });
  // As the gateway's sendUpstream: one AbortSignal.timeout, no controller or timer to clear.
  return fetch(target, {
    method: request.method,
    headers,
    redirect: 'manual',
    signal: AbortSignal.timeout(30_000),
  });
}

/** @param {Response} response */
function relay(response) {
  const out = new Response(response.body, response);
  for (const name of HOP) if (out.headers.has(name)) out.headers.delete(name);
  out.headers.set('x-pat-token-expiration', '2026-12-31T00:00:00.000Z');
  return out;
}

export default {
  /** @param {Request} request @param {{ UPSTREAM: string }} env */
  async fetch(request, env) {
    const variant = request.headers.get('x-variant');
    const target = `${env.UPSTREAM}/v1/items`;
    const copy = () => {
      const headers = new Headers(request.headers);
      for (const name of ['host', 'authorization', 'x-variant']) headers.delete(name);
      return headers;
    };
    const withIdentity = () => {
      const headers = copy();
      for (const [name, value] of IDENTITY) headers.set(name, value);
      return headers;
    };
    switch (variant) {
      case 'bare':
        return fetch(target, request);
      case 'init-dict':
        return fetch(target, { method: request.method, headers: request.headers, redirect: 'manual' });
      case 'headers-copy':
        return send(request, copy(), false, target);
      case 'request-copy': {
        const upstream = new Request(target, request);
        for (const name of ['host', 'authorization', 'x-variant']) upstream.headers.delete(name);
        return fetch(upstream);
      }
      case 'request-copy-timeout': {
        const upstream = new Request(target, request);
        for (const name of ['host', 'authorization', 'x-variant']) upstream.headers.delete(name);
        for (const [name, value] of IDENTITY) upstream.headers.set(name, value);
        const controller = new AbortController();
        const timer = setTimeout(() => controller.abort(), 30_000);
        try {
          return await fetch(upstream, { signal: controller.signal });
        } finally {
          clearTimeout(timer);
        }
      }
      case 'init-headers-timeout': {
        const controller = new AbortController();
        const timer = setTimeout(() => controller.abort(), 30_000);
        const upstream = new Request(target, {
          method: request.method,
          headers: request.headers,
          redirect: 'manual',
          signal: controller.signal,
        });
        for (const name of ['host', 'authorization', 'x-variant']) upstream.headers.delete(name);
        for (const [name, value] of IDENTITY) upstream.headers.set(name, value);
        try {
          return await fetch(upstream);
        } finally {
          clearTimeout(timer);
        }
      }
      case 'timer-only': {
        const timer = setTimeout(() => {}, 30_000);
        try {
          return await send(request, withIdentity(), false, target);
        } finally {
          clearTimeout(timer);
        }
      }
      case 'signal-only': {
        const controller = new AbortController();
        return fetch(target, {
          method: request.method,
          headers: withIdentity(),
          redirect: 'manual',
          signal: controller.signal,
        });
      }
      case 'identity-headers':
        return send(request, withIdentity(), false, target);
      case 'timeout':
        return send(request, withIdentity(), true, target);
      case 'relay':
        return relay(await send(request, withIdentity(), true, target));
      default:
        return new Response(`unknown variant ${variant}`, { status: 400 });
    }
  },
};
