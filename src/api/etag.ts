import { z } from '@hono/zod-openapi';
import type { Context } from 'hono';
import type { AppEnv } from '../env';
import { NO_STORE } from './deps';
import { LOCATION_HEADER } from './schemas';

// Optimistic concurrency for edits, deletes, restores and rotations (RFC 9110 §8.8.3, §13.1.1): a token's entity tag is its
// `updated_at`, quoted, which every change a person or the system makes to the token sets (using it does not).
// A client that sends it back as If-Match changes the token only if nobody changed it since it was read:
// otherwise 412, and nothing is written. The service writes only the row it read, so check and write are one.

export function tokenEtag(updatedAt: number): string {
  return `"${new Date(updatedAt).toISOString()}"`;
}

/** Headers for an answer that is one token: never cached, with its entity tag. */
export function tokenHeaders(row: { updatedAt: number }) {
  return { ...NO_STORE, ETag: tokenEtag(row.updatedAt) };
}

/** Headers for a created token (201): never cached, its entity tag, and where to read it. */
export function createdHeaders(row: { id: string; updatedAt: number }) {
  return { ...tokenHeaders(row), Location: `/api/v1/tokens/${row.id}` };
}

/** What the request's If-Match asks of the token, or undefined when it has none. Weak tags never match. */
export function ifMatch(c: Context<AppEnv>): ((row: { updatedAt: number }) => boolean) | undefined {
  const header = c.req.header('if-match');
  if (header === undefined) return undefined;
  if (header.trim() === '*') return () => true;
  const tags = header.split(',').map((tag) => tag.trim());
  return (row) => tags.includes(tokenEtag(row.updatedAt));
}

export const IfMatchHeader = z.object({
  'if-match': z.string().max(1000).optional().openapi({
    description:
      'The ETag of the token as you read it: the change is made only if nobody changed the token since (412 otherwise).',
    example: '"2026-11-23T02:34:31.123Z"',
  }),
});

export const ETAG_HEADER = {
  ETag: {
    description:
      "The token's entity tag (its `updated_at`, quoted), for If-Match on a later edit, delete, restore or rotation.",
    schema: { type: 'string' as const },
  },
};

/** The headers of a 201 that creates a token. */
export const CREATED_HEADERS = { ...ETAG_HEADER, ...LOCATION_HEADER };
