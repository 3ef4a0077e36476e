import { existsSync } from 'node:fs';
import { readdir, readFile, stat } from 'node:fs/promises';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { readmeSection, TOUR_HEADING, tourBlocks } from './readme-tour.ts';

// Issue 19: a README a newcomer reads (under ~12 KB: what it is, the screenshot, the two commands,
// the tour, links), with the rest in docs/ and every link still leading somewhere. That
// docs/BENCHMARKS.md is up to date with the committed reports: bench/test/readme-section.test.ts.
const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** README.md, docs/*.md and every package's README: the pages that link to each other. */
async function pages(): Promise<string[]> {
  const docs = (await readdir(join(ROOT, 'docs'))).filter((n) => n.endsWith('.md')).map((n) => join(ROOT, 'docs', n));
  const packages = ['protocol', 'warehouse', 'edge-agent', 'edge-agent/src/scanner', 'ingest', 'verifier', 'analytics', 'ops', 'bench', 'simulators', 'cli']
    .map((p) => join(ROOT, p, 'README.md'))
    .filter((p) => existsSync(p));
  return [join(ROOT, 'README.md'), ...docs, ...packages];
}

/** GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens. */
function anchor(heading: string): string {
  return heading
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N} _-]/gu, '')
    .replace(/ /g, '-');
}

function anchorsOf(markdown: string): Set<string> {
  const withoutCode = markdown.replace(/^```[\s\S]*?^```$/gm, '');
  return new Set([...withoutCode.matchAll(/^#{1,6} (.+)$/gm)].map((m) => anchor(m[1]!)));
}

describe('README and docs/', () => {
  it('the README is for the first ten minutes: short, the screenshot, the two commands, the tour, links to docs/', async () => {
    const readme = await readFile(join(ROOT, 'README.md'), 'utf8');
    expect(Buffer.byteLength(readme)).toBeLessThan(12 * 1024);
    expect(readme).toContain('](docs/dashboard.png)');
    expect(readmeSection(readme, '## Two commands')).toMatch(/npm run setup[\s\S]*npm start[\s\S]*npm test/);
    expect(tourBlocks(readme).length).toBeGreaterThan(5);
    expect(readmeSection(readme, TOUR_HEADING)).toContain('mosquitto_pub');
    for (const doc of ['ARCHITECTURE', 'CONTRACTS', 'CLI', 'VERIFICATION', 'ALERTS', 'CONFIGURATION', 'ACCESS', 'OPERATIONS', 'BENCHMARKS']) {
      expect(readme).toContain(`](docs/${doc}.md)`);
    }
    // The generated tables live in docs/BENCHMARKS.md; the README has a headline only.
    expect(readme).not.toContain('<!-- bench:begin -->');
  });

  it('every relative link of the README, docs/ and the package READMEs leads to a file, and every #anchor into a page to a heading', async () => {
    const broken: string[] = [];
    for (const page of await pages()) {
      const text = (await readFile(page, 'utf8')).replace(/^```[\s\S]*?^```$/gm, '');
      for (const m of text.matchAll(/\]\(([^)\s]+)\)/g)) {
        const target = m[1]!;
        if (/^[a-z]+:/.test(target)) continue;
        const [path, fragment] = target.split('#') as [string, string | undefined];
        const file = path === '' ? page : join(dirname(page), decodeURIComponent(path));
        const where = `${relative(ROOT, page)} → ${target}`;
        if (!existsSync(file)) {
          broken.push(`${where}: no such file`);
          continue;
        }
        if (fragment !== undefined && fragment !== '' && file.endsWith('.md') && (await stat(file)).isFile() && !anchorsOf(await readFile(file, 'utf8')).has(fragment)) {
          broken.push(`${where}: no such heading`);
        }
      }
    }
    expect(broken).toEqual([]);
  });
});
