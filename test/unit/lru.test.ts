import { describe, expect, it } from 'vitest';
import { ExpiringLru } from '../../src/auth/lru';

const T0 = 1_800_000_000_000;

describe('ExpiringLru', () => {
  it('returns a value until its expiry instant, then forgets it', () => {
    const lru = new ExpiringLru<string>(10);
    lru.set('lru-expiry', 'v1', T0 + 1000);
    expect(lru.get('lru-expiry', T0)).toBe('v1');
    expect(lru.get('lru-expiry', T0 + 999)).toBe('v1');
    expect(lru.get('lru-expiry', T0 + 1000)).toBeUndefined();
    expect(lru.size).toBe(0); // an expired entry is dropped, not kept around
    expect(lru.get('lru-expiry', T0)).toBeUndefined(); // not resurrected by an earlier clock
  });

  it('never holds more than maxEntries, evicting the oldest insert first', () => {
    const lru = new ExpiringLru<number>(3);
    for (let i = 1; i <= 5; i++) lru.set(`lru-bound-${i}`, i, T0 + 60_000);
    expect(lru.size).toBe(3);
    expect(lru.get('lru-bound-1', T0)).toBeUndefined();
    expect(lru.get('lru-bound-2', T0)).toBeUndefined();
    expect([3, 4, 5].map((i) => lru.get(`lru-bound-${i}`, T0))).toEqual([3, 4, 5]);
  });

  it('a read makes an entry the most recently used', () => {
    const lru = new ExpiringLru<string>(2);
    lru.set('lru-read-a', 'a', T0 + 60_000);
    lru.set('lru-read-b', 'b', T0 + 60_000);
    expect(lru.get('lru-read-a', T0)).toBe('a'); // now b is the oldest
    lru.set('lru-read-c', 'c', T0 + 60_000);
    expect(lru.get('lru-read-b', T0)).toBeUndefined();
    expect(lru.get('lru-read-a', T0)).toBe('a');
    expect(lru.get('lru-read-c', T0)).toBe('c');
  });

  it('overwriting a key replaces value and expiry and refreshes its position', () => {
    const lru = new ExpiringLru<string>(2);
    lru.set('lru-over-a', 'old', T0 + 10);
    lru.set('lru-over-b', 'b', T0 + 60_000);
    lru.set('lru-over-a', 'new', T0 + 60_000);
    expect(lru.size).toBe(2);
    lru.set('lru-over-c', 'c', T0 + 60_000); // evicts b, the least recently used
    expect(lru.get('lru-over-a', T0 + 100)).toBe('new');
    expect(lru.get('lru-over-b', T0)).toBeUndefined();
  });

  it('a miss on a missing key does not disturb the order', () => {
    const lru = new ExpiringLru<string>(2);
    lru.set('lru-miss-a', 'a', T0 + 60_000);
    lru.set('lru-miss-b', 'b', T0 + 60_000);
    expect(lru.get('lru-miss-zzz', T0)).toBeUndefined();
    lru.set('lru-miss-c', 'c', T0 + 60_000);
    expect(lru.get('lru-miss-a', T0)).toBeUndefined();
    expect(lru.get('lru-miss-b', T0)).toBe('b');
  });

  it('delete and clear remove entries', () => {
    const lru = new ExpiringLru<string>(5);
    lru.set('lru-del-a', 'a', T0 + 60_000);
    lru.set('lru-del-b', 'b', T0 + 60_000);
    lru.delete('lru-del-a');
    lru.delete('lru-del-never-set');
    expect(lru.get('lru-del-a', T0)).toBeUndefined();
    expect(lru.size).toBe(1);
    lru.clear();
    expect(lru.size).toBe(0);
    expect(lru.get('lru-del-b', T0)).toBeUndefined();
  });
});
