import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { BASE45_ALPHABET, decodeBase45, encodeBase45 } from '@cityops/protocol';

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    return (err as { code?: string }).code;
  }
  return undefined;
}

describe('base45 (RFC 9285)', () => {
  it('encodes and decodes the RFC 9285 §4.3 and §4.4 examples', () => {
    expect(encodeBase45(Buffer.from('AB'))).toBe('BB8');
    expect(encodeBase45(Buffer.from('Hello!!'))).toBe('%69 VD92EX0');
    expect(encodeBase45(Buffer.from('base-45'))).toBe('UJCLQE7W581');
    expect(decodeBase45('QED8WEX0').toString()).toBe('ietf!');
    expect(decodeBase45('%69 VD92EX0').toString()).toBe('Hello!!');
  });

  it('round-trips every length from 0 to 64 and random data', () => {
    for (let n = 0; n <= 64; n++) {
      const bytes = randomBytes(n);
      const text = encodeBase45(bytes);
      expect(text.length).toBe(Math.floor(n / 2) * 3 + (n % 2) * 2);
      expect(decodeBase45(text).equals(bytes)).toBe(true);
    }
    const all = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
    expect(decodeBase45(encodeBase45(all)).equals(all)).toBe(true);
  });

  it('decodes from an offset, after a prefix', () => {
    expect(decodeBase45('HC1:BB8', 4).toString()).toBe('AB');
  });

  it('accepts the largest values a group may carry', () => {
    expect([...decodeBase45('FGW')]).toEqual([0xff, 0xff]); // 15 + 16*45 + 32*2025 = 65535
    expect([...decodeBase45('U5')]).toEqual([0xff]); // 30 + 5*45 = 255
  });

  it('rejects a three-character group above 65535', () => {
    expect(codeOf(() => decodeBase45('GGW'))).toBe('CODE_ERR_BASE45'); // 65536
    expect(codeOf(() => decodeBase45(':::'))).toBe('CODE_ERR_BASE45'); // 91124
    expect(codeOf(() => decodeBase45('BB8GGW'))).toBe('CODE_ERR_BASE45');
  });

  it('rejects a final two-character group above 255', () => {
    expect(codeOf(() => decodeBase45('V5'))).toBe('CODE_ERR_BASE45'); // 256
    expect(codeOf(() => decodeBase45('BB8::'))).toBe('CODE_ERR_BASE45'); // 2024
  });

  it('rejects a dangling single character', () => {
    expect(codeOf(() => decodeBase45('A'))).toBe('CODE_ERR_BASE45');
    expect(codeOf(() => decodeBase45('BB8A'))).toBe('CODE_ERR_BASE45');
  });

  it('rejects characters outside the alphabet, including lower case, newline, "=" and non-ASCII', () => {
    for (const bad of ['bb8', 'BB8\n', 'BB=', 'BB\u00c9', 'BB\u0000', 'B#8', 'BB8BB_']) {
      expect(codeOf(() => decodeBase45(bad)), JSON.stringify(bad)).toBe('CODE_ERR_BASE45');
    }
  });

  it('uses exactly the 45 characters of the QR alphanumeric mode', () => {
    expect(BASE45_ALPHABET).toHaveLength(45);
    expect(new Set(BASE45_ALPHABET).size).toBe(45);
    expect(/^[0-9A-Z $%*+\-./:]+$/.test(BASE45_ALPHABET)).toBe(true);
  });
});
