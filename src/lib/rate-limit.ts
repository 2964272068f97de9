// Per-key rate limiting. Deployed, a Cloudflare Rate Limiting binding (`[[ratelimits]]` in wrangler.toml) does the
// counting: per location, eventually consistent, no added latency. Where the binding is absent (local development,
// tests) a fixed window in isolate memory stands in; it is per isolate, which README documents.

export interface RateLimitBinding {
  limit(options: { key: string }): Promise<{ success: boolean }>;
}

export interface Limiter {
  /** True when this call is within the limit. */
  allow(key: string, now: number): Promise<boolean>;
  /** Seconds a refused caller should wait (the window length). */
  retryAfterSeconds: number;
}

const MAX_KEYS = 10_000;

export function memoryLimiter(limit: number, periodSeconds: number): Limiter {
  const windows = new Map<string, { count: number; resetAt: number }>();
  return {
    retryAfterSeconds: periodSeconds,
    async allow(key, now) {
      let window = windows.get(key);
      if (!window || window.resetAt <= now) {
        if (windows.size >= MAX_KEYS) windows.clear();
        window = { count: 0, resetAt: now + periodSeconds * 1000 };
        windows.set(key, window);
      }
      window.count++;
      return window.count <= limit;
    },
  };
}

const fallbacks = new Map<string, Limiter>();

/** The binding named `bindingName` if this Worker has it, else an isolate-memory limiter with the same limits. */
export function limiterFor(
  env: Record<string, unknown>,
  bindingName: string,
  limit: number,
  periodSeconds: number,
): Limiter {
  const binding = env[bindingName] as RateLimitBinding | undefined;
  if (binding && typeof binding.limit === 'function') {
    return { retryAfterSeconds: periodSeconds, allow: async (key) => (await binding.limit({ key })).success };
  }
  let fallback = fallbacks.get(bindingName);
  if (!fallback) {
    fallback = memoryLimiter(limit, periodSeconds);
    fallbacks.set(bindingName, fallback);
  }
  return fallback;
}
