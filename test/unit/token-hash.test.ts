import { describe, expect, it } from 'vitest';
import { hashToken, toHex } from '../../src/tokens/hash';

// HMAC-SHA256 expectations come from RFC 4231 and from a key imported here, not from src's key cache.

async function independentHmac(secret: string, message: string): Promise<string> {
  const enc = new TextEncoder();
  const key = await crypto.subtle.importKey(
    'raw',
    enc.encode(secret),
    { name: 'HMAC', hash: 'SHA-256' },
    false,
    ['sign'],
  );
  const mac = new Uint8Array(await crypto.subtle.sign('HMAC', key, enc.encode(message)));
  return Array.from(mac, (b) => b.toString(16).padStart(2, '0')).join('');
}

describe('toHex', () => {
  it('renders each byte as two lower-case hex digits, in order', () => {
    expect(toHex(new Uint8Array([0, 1, 15, 16, 171, 255]).buffer)).toBe('00010f10abff');
    expect(toHex(new ArrayBuffer(0))).toBe('');
  });
});

describe('hashToken', () => {
  it('matches the RFC 4231 test case 2 vector (key "Jefe")', async () => {
    const hash = await hashToken('what do ya want for nothing?', { version: 1, secret: 'Jefe' });
    expect(hash).toBe('5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843');
  });

  it('is 64 lower-case hex characters and deterministic', async () => {
    const pepper = { version: 3, secret: 'hash-determinism-pepper-0123456789abcdef' };
    const first = await hashToken('pat_determinism-token', pepper);
    const second = await hashToken('pat_determinism-token', { ...pepper });
    expect(first).toMatch(/^[0-9a-f]{64}$/);
    expect(second).toBe(first);
  });

  it('equals HMAC-SHA256(pepper, token) computed independently', async () => {
    const secret = 'hash-independent-pepper-fedcba9876543210';
    const token = 'pat_independentCheck0123456789abcdefABCDEF';
    expect(await hashToken(token, { version: 1, secret })).toBe(await independentHmac(secret, token));
  });

  it('changes with the pepper secret but not with the version number', async () => {
    const token = 'pat_pepperRotation0123456789abcdefABCDEFGH';
    const a = await hashToken(token, { version: 1, secret: 'pepper-a-0123456789abcdef0123456789ab' });
    const b = await hashToken(token, { version: 2, secret: 'pepper-b-0123456789abcdef0123456789ab' });
    const aAgain = await hashToken(token, { version: 9, secret: 'pepper-a-0123456789abcdef0123456789ab' });
    expect(a).not.toBe(b);
    expect(aAgain).toBe(a);
  });

  it('differs for tokens differing in one character, and is not a plain SHA-256', async () => {
    const pepper = { version: 1, secret: 'hash-avalanche-pepper-0123456789abcdef' };
    const a = await hashToken('pat_avalancheAAAA', pepper);
    const b = await hashToken('pat_avalancheAAAB', pepper);
    expect(a).not.toBe(b);
    const plain = toHex(await crypto.subtle.digest('SHA-256', new TextEncoder().encode('pat_avalancheAAAA')));
    expect(a).not.toBe(plain);
  });
});
