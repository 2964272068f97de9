import { createApp } from './app';
import { runHygiene } from './cron/hygiene';
import type { Env } from './env';

const app = createApp();

export default {
  fetch: (request, env, ctx) => app.fetch(request, env, ctx),
  scheduled: (controller, env, ctx) =>
    ctx.waitUntil(runHygiene(env, controller.scheduledTime, (promise) => ctx.waitUntil(promise))),
} satisfies ExportedHandler<Env>;
