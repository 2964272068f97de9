import { defineConfig } from 'drizzle-kit';

// drizzle-kit 0.31.x writes flat NNNN_name.sql files, which is what `wrangler d1 migrations` reads.
export default defineConfig({
  dialect: 'sqlite',
  schema: './src/db/schema.ts',
  out: './migrations',
});
