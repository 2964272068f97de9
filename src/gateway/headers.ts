/**
 * Hop-by-hop fields (RFC 9110 §7.6.1) and `host`: they describe one connection, not the request, so the gateway
 * never forwards them, and a route can neither inject them nor read a token from them.
 */
export const HOP_BY_HOP: ReadonlySet<string> = new Set([
  'connection',
  'keep-alive',
  'proxy-authenticate',
  'proxy-authorization',
  'proxy-connection',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'host',
]);
