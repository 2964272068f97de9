import { createApp } from './app';
import { runHygiene } from './cron/hygiene';
import { runKvSync } from './cron/kv-outbox';
import type { Env } from './env';
import { KV_SYNC_CRON } from './tokens/kv-sync';

const app = createApp();

export default {
  fetch: (request, env, ctx) => app.fetch(request, env, ctx),
  scheduled: (controller, env, ctx) =>
    ctx.waitUntil(
      controller.cron === KV_SYNC_CRON
        ? runKvSync(env, controller.scheduledTime)
        : runHygiene(env, controller.scheduledTime, (promise) => ctx.waitUntil(promise)),
    ),
} satisfies ExportedHandler<Env>;
