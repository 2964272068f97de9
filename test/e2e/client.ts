// Small HTTP helpers for the end-to-end suites: a development identity and management API calls.
import type { Harness } from './harness';

export async function devSession(
  h: Harness,
  user: string,
  role: 'admin' | 'member' = 'member',
): Promise<string> {
  const res = await fetch(`${h.gateway}/api/v1/dev/session`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ user, role }),
  });
  if (res.status !== 200) throw new Error(`dev session: ${res.status} ${await res.text()}`);
  return ((await res.json()) as { token: string }).token;
}

export async function api(
  h: Harness,
  jwt: string,
  path: string,
  init: { method?: string; json?: unknown } = {},
) {
  const res = await fetch(h.gateway + path, {
    method: init.method ?? 'GET',
    headers: {
      authorization: `Bearer ${jwt}`,
      ...(init.json === undefined ? {} : { 'content-type': 'application/json' }),
    },
    body: init.json === undefined ? undefined : JSON.stringify(init.json),
  });
  const text = await res.text();
  return { status: res.status, body: (text ? JSON.parse(text) : null) as Record<string, unknown> | null };
}

export async function createToken(
  h: Harness,
  jwt: string,
  name: string,
  extra: Record<string, unknown> = {},
) {
  const created = await api(h, jwt, '/api/v1/tokens', { method: 'POST', json: { name, ...extra } });
  if (created.status !== 201)
    throw new Error(`create token: ${created.status} ${JSON.stringify(created.body)}`);
  return { id: created.body!.id as string, token: created.body!.token as string };
}
