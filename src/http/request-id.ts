import type { MiddlewareHandler } from 'hono';
import { holdsTokenShape } from '../tokens/format';

// The request id (X-Request-Id): the client's own when it is a plain id, so logs can be correlated across systems,
// else a new UUID. Like Hono's requestId middleware, except that an id shaped like a token is never taken: the id
// goes into logs, error bodies and the audit log, where a token must never be.

const PLAIN_ID = /^[\w\-=]{1,255}$/;

export const requestId: MiddlewareHandler = async (c, next) => {
  const sent = c.req.header('x-request-id');
  const id = sent && PLAIN_ID.test(sent) && !holdsTokenShape(sent) ? sent : crypto.randomUUID();
  c.set('requestId', id);
  c.header('X-Request-Id', id);
  await next();
};
