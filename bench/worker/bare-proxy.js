// The baseline: the barest pass-through proxy a Worker can be. Same runtime, same upstream, no auth, no header
// work: whatever the gateway costs on top of this is what the benchmark reports. With a KV binding and KV_KEY
// (the `bare-kv` Worker) it first reads one record, as the KV path must: the local KV simulator's own cost.
export default {
  /**
   * @param {Request} request
   * @param {{ UPSTREAM: string, KV_KEY?: string, TOKEN_CACHE?: KVNamespace }} env
   */
  async fetch(request, env) {
    if (env.TOKEN_CACHE && env.KV_KEY && !(await env.TOKEN_CACHE.get(env.KV_KEY, 'json')))
      return new Response('the KV reference record is missing', { status: 500 });
    const url = new URL(request.url);
    return fetch(env.UPSTREAM + url.pathname + url.search, request);
  },
};
