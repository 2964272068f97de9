// The cached record of an active token, as KV holds it (src/tokens/state.ts): what the bench hands the Workers
// wherever it stands in for a real token (the KV reference read, the micro-benchmark, the memory fill).
import type { TokenState } from '../../src/tokens/state';

/** An active personal token with `read write`, expiring in a day; `tag` names the token, its owner and subject. */
export function activeRecord(tag: string, now: number): TokenState {
  return {
    v: 1,
    id: `tok_${tag}`,
    state: 'active',
    type: 'personal',
    exp: now + 86_400_000,
    iat: now,
    scopes: ['read', 'write'],
    owner: { id: `usr_${tag}`, subject: tag, role: 'member', active: true },
  };
}
