import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const PACKAGES: Record<string, string> = { '@cityops/protocol': join(root, 'protocol/src/index.ts') };

/** Every module specifier a pool thread loads, following runtime imports (not `import type`) of our own sources. */
function runtimeImports(entry: string): { files: Set<string>; specifiers: Set<string> } {
  const files = new Set<string>();
  const specifiers = new Set<string>();
  const visit = (file: string) => {
    if (files.has(file)) return;
    files.add(file);
    const text = readFileSync(file, 'utf8');
    const pattern = /^\s*(?:import|export)\s+(type\s+)?(?:[^'";]*?\sfrom\s+)?['"]([^'"]+)['"]|await import\(['"]([^'"]+)['"]\)/gm;
    for (const match of text.matchAll(pattern)) {
      if (match[1] !== undefined) continue;
      const specifier = (match[2] ?? match[3])!;
      specifiers.add(specifier);
      if (specifier.startsWith('.')) visit(resolve(dirname(file), specifier));
      else if (PACKAGES[specifier] !== undefined) visit(PACKAGES[specifier]);
    }
  };
  visit(entry);
  return { files, specifiers };
}

describe('pool threads', () => {
  it('never load the warehouse, even transitively (chDB crashes in worker threads)', () => {
    const { files, specifiers } = runtimeImports(join(root, 'verifier/src/verify-worker.ts'));
    expect(files).toContain(join(root, 'verifier/src/authenticate-code.ts'));
    expect(files).toContain(join(root, 'protocol/src/codes/code-decoder.ts'));
    expect([...specifiers].filter((s) => /warehouse|chdb|clickhouse/.test(s))).toEqual([]);
    expect([...files].filter((f) => f.includes('/warehouse/'))).toEqual([]);
  });
});
