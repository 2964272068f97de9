// Checks that a P-256 JWK's numbers can be a key at all, synchronously, so a mistyped GATEWAY_SIGNING_KEY fails
// at configuration time with its name instead of as a 500 on the first signed request (FIPS 186-4 D.1.2.3).

const P = 0xffffffff00000001000000000000000000000000ffffffffffffffffffffffffn;
const N = 0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551n;
const B = 0x5ac635d8aa3a93e7b3ebbd55769886bc651d06b0cc53b0f63bce3c3e27d2604bn;

/** The 32-byte big-endian number in a base64url string, or null when it is not exactly that. */
function coordinate(value: string): bigint | null {
  if (!/^[A-Za-z0-9_-]{43}$/.test(value)) return null;
  const binary = atob(`${value.replace(/-/g, '+').replace(/_/g, '/')}=`);
  if (binary.length !== 32) return null;
  let n = 0n;
  for (let i = 0; i < binary.length; i++) n = (n << 8n) | BigInt(binary.charCodeAt(i));
  return n;
}

/** Why `x`, `y` (and `d`, when given) cannot form a P-256 key, or null when they can. */
export function p256KeyProblem(jwk: { x: string; y: string; d?: string }): string | null {
  const x = coordinate(jwk.x);
  const y = coordinate(jwk.y);
  if (x === null || y === null) return 'x and y must each be 32 bytes, base64url without padding';
  if (x >= P || y >= P || (y * y - (x * x * x - 3n * x + B)) % P !== 0n)
    return 'x, y is not a point on P-256';
  if (jwk.d !== undefined) {
    const d = coordinate(jwk.d);
    if (d === null || d === 0n || d >= N) return 'd must be a P-256 private scalar: 32 bytes, base64url';
  }
  return null;
}
