import type { Vector } from './vector-specs.ts';

/** CODES.md holds the vectors between these markers; make-fixtures writes them, a test compares. */
export const VECTORS_BEGIN = '<!-- test-vectors:begin (written by protocol/test/codes/fixtures/make-fixtures.ts) -->';
export const VECTORS_END = '<!-- test-vectors:end -->';

export function renderVectorsSection(vectors: readonly Vector[]): string {
  const keys = new Map<string, Vector>();
  for (const v of vectors) if (!keys.has(v.alg)) keys.set(v.alg, v);
  const lines: string[] = [VECTORS_BEGIN, '', '| alg | kid (base64) | kid (hex) | certificate | public key (DER SPKI, base64) |', '|---|---|---|---|---|'];
  for (const v of keys.values()) {
    const kidHex = Buffer.from(v.kid, 'base64').toString('hex');
    lines.push(`| ${v.alg} | \`${v.kid}\` | \`${kidHex}\` | \`protocol/test/codes/fixtures/${v.alg.toLowerCase()}.cert.pem\` | \`${v.publicKey}\` |`);
  }
  vectors.forEach((v, i) => {
    lines.push(
      '',
      `### Vector ${i + 1}: ${v.name}`,
      '',
      `kind \`${v.kind}\`, alg \`${v.alg}\`, kid \`${v.kid}\`, ${v.qr.length} characters:`,
      '',
      '```',
      v.qr,
      '```',
      '',
      'decodes to (times in ms since the epoch):',
      '',
      '```json',
      JSON.stringify(v.expected, null, 2),
      '```',
    );
  });
  lines.push('', VECTORS_END);
  return lines.join('\n');
}

export function vectorsSectionOf(markdown: string): string | undefined {
  const begin = markdown.indexOf(VECTORS_BEGIN);
  const end = markdown.indexOf(VECTORS_END);
  return begin < 0 || end < begin ? undefined : markdown.slice(begin, end + VECTORS_END.length);
}
