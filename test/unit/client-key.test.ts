import { describe, expect, it } from 'vitest';
import { clientKey } from '../../src/gateway/abuse';

// The failed-authentication limit counts per client: an IPv4 address, or an IPv6 /64 (one subscriber's share).

describe('clientKey', () => {
  it('keeps IPv4 addresses as they are', () => {
    expect(clientKey('198.51.100.7')).toBe('198.51.100.7');
  });

  it('reduces IPv6 to its /64, however it is written', () => {
    const key = '2001:db8:1:2::/64';
    for (const ip of [
      '2001:db8:1:2::1',
      '2001:0db8:0001:0002:0000:0000:0000:0001',
      '2001:db8:1:2:ffff:ffff:ffff:ffff',
      '2001:DB8:1:2:a:b:c:d',
    ])
      expect(clientKey(ip), ip).toBe(key);
    expect(clientKey('2001:db8:1:3::1')).toBe('2001:db8:1:3::/64');
    expect(clientKey('2001:db8::1')).toBe('2001:db8:0:0::/64');
    expect(clientKey('::1')).toBe('0:0:0:0::/64');
    expect(clientKey('fe80::1%eth0')).toBe('fe80:0:0:0::/64');
  });

  it('leaves anything else as its own key', () => {
    for (const ip of ['garbage:x', 'unknown', '1:2']) expect(clientKey(ip)).toBe(ip);
  });

  it('leaves an address with "::" and eight or more other groups as its own key, without throwing', () => {
    for (const ip of ['1:2:3:4:5:6:7::8:9', '1:2:3:4:5:6:7:8::9', '1:2:3:4::5:6:7:8'])
      expect(clientKey(ip)).toBe(ip);
  });
});
