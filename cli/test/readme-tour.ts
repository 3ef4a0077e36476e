/** The README's tour as a test reads it: its shell blocks, and the settings block's placeholders. */

export const TOUR_HEADING = '## A five-minute tour';

/** The text of the README section `heading` (up to the next `## `), or an error naming it. */
export function readmeSection(readme: string, heading: string): string {
  const start = readme.indexOf(`\n${heading}\n`);
  if (start === -1) throw new Error(`README has no "${heading}" section`);
  const end = readme.indexOf('\n## ', start + heading.length + 2);
  return readme.slice(start + 1, end === -1 ? undefined : end);
}

/** Every ```sh block of the tour, in order, without its fences (a trailing `\` joins lines, as in a shell). */
export function tourBlocks(readme: string): string[] {
  return [...readmeSection(readme, TOUR_HEADING).matchAll(/^```sh\n([\s\S]*?)^```$/gm)].map((m) => m[1]!.trimEnd());
}

/**
 * The settings block with the reader's own values: it must assign exactly the names given (one
 * `NAME=value` a line), so the README cannot grow a setting the test does not fill in.
 */
export function settingsFor(block: string, values: Readonly<Record<string, string>>): Record<string, string> {
  const lines = block.split('\n').filter((l) => l.trim() !== '');
  const names = lines.map((line) => /^([A-Z_][A-Z0-9_]*)=\S+$/.exec(line)?.[1] ?? `(not NAME=value: ${line})`);
  const wanted = Object.keys(values);
  if (names.join(',') !== wanted.join(',')) throw new Error(`the tour's settings block sets ${names.join(', ')}; the test fills in ${wanted.join(', ')}`);
  return { ...values };
}
