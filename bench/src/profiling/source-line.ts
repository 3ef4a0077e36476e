import { readFileSync, statSync } from 'node:fs';

/** Where a function's declaration is, when the profile cannot say: `(url, functionName) → line (from 1)`. */
export type SourceLineFinder = (url: string, functionName: string) => number | undefined;

/** Source files read at most (a report reads a few dozen of ours); larger files are not searched. */
const MAX_FILES = 500;
const MAX_FILE_BYTES = 2 * 2 ** 20;

/**
 * tsx hands V8 its transform of a .ts file with the whitespace taken out (the stack traces are
 * mapped back through a source map; a CPU profile is not), so a profile's line for our .ts code is
 * 1 or 2 for everything. This finds the function's declaration by name in the file as it is now:
 * the report marks such a line with `~` (the file may have changed since the profile).
 */
export function createSourceLineFinder(): SourceLineFinder {
  const files = new Map<string, readonly string[] | undefined>();
  function lines(path: string): readonly string[] | undefined {
    if (!files.has(path)) {
      if (files.size >= MAX_FILES) return undefined;
      let text: string | undefined;
      try {
        text = statSync(path).size <= MAX_FILE_BYTES ? readFileSync(path, 'utf8') : undefined;
      } catch {
        text = undefined; // a profile from another checkout: no line, the file name stays
      }
      files.set(path, text?.split('\n'));
    }
    return files.get(path);
  }
  return (url, functionName) => {
    // `Packr.writeRecord`, `get search`, `async accept`: the last word is the declared name.
    const name = /([A-Za-z_$][\w$]*)$/.exec(functionName)?.[1];
    if (name === undefined || !url.startsWith('file://')) return undefined;
    const source = lines(decodeURIComponent(url.slice('file://'.length)));
    if (source === undefined) return undefined;
    const n = name.replace(/\$/g, '\\$');
    const declaration = new RegExp(
      `(\\bfunction\\s*\\*?\\s*${n}\\s*[<(])|(^\\s*(?:(?:public|private|protected|static|async|get|set|readonly)\\s+)*\\*?${n}\\s*[<(][^;]*$)|(\\b${n}\\s*[:=]\\s*(?:async\\s*)?(?:function\\b|\\(|[A-Za-z_$][\\w$]*\\s*=>))`,
    );
    const index = source.findIndex((line) => declaration.test(line));
    return index < 0 ? undefined : index + 1;
  };
}
