import { randomBase62 } from '../tokens/format';

/** Public ids: a type prefix and 16 random base62 characters (95 bits), e.g. `tok_3fK…`. Never derived from a secret. */
export function newId(prefix: 'tok' | 'usr' | 'svc' | 'evt'): string {
  return `${prefix}_${randomBase62(16)}`;
}
