/** Where a profiled function's code lives: the first question a reader asks of a profile is "ours or a dependency's?". */
export type CodeKind = 'ours' | 'dependency' | 'node' | 'v8' | 'gc' | 'program' | 'idle' | 'wait' | 'startup' | 'other';

export interface CodeLocation {
  readonly kind: CodeKind;
  /** The rollup's key: a workspace (`ingest`), `node_modules/<pkg>`, `node:internals`, `(garbage collector)`... */
  readonly pkg: string;
  /** The file shortened to its package's path (`ingest/src/dedup.ts`, `node_modules/msgpackr/unpack.js`), '' for V8's own nodes. */
  readonly file: string;
}

/** V8's CPU profiler names its pseudo-frames in parentheses and gives them no URL. */
const PSEUDO: Readonly<Record<string, CodeKind>> = { '(garbage collector)': 'gc', '(program)': 'program', '(idle)': 'idle', '(root)': 'program' };

/**
 * Classifies a profile's call frame by its URL. `workspaces` are the repository's own packages
 * (root package.json): a path `<anything>/<workspace>/(src|test)/...` is ours wherever the checkout
 * was (a profile from another worktree or machine still reads right); `test-peers/` too.
 */
export function codeLocation(functionName: string, url: string, workspaces: readonly string[]): CodeLocation {
  if (url === '') {
    const pseudo = PSEUDO[functionName];
    if (pseudo !== undefined) return { kind: pseudo, pkg: pseudo === 'program' ? '(program)' : functionName, file: '' };
    // Builtins (JSON.parse, Array.prototype.map...) and native bindings carry no script.
    return { kind: 'v8', pkg: '(V8 builtins and native)', file: '' };
  }
  // piscina's idle workers block in Atomics.wait inside this function: a sample there is a thread
  // asleep, not CPU (the profiler cannot tell the two apart).
  if (functionName === 'atomicsWaitLoop' && url.includes('/node_modules/piscina/')) return { kind: 'wait', pkg: '(waiting: Atomics.wait)', file: '' };
  if (url.startsWith('node:')) return { kind: 'node', pkg: 'node:internals', file: url };
  const path = url.startsWith('file://') ? decodeURIComponent(url.slice('file://'.length)) : url;
  const nm = path.lastIndexOf('/node_modules/');
  if (nm >= 0) {
    const rest = path.slice(nm + '/node_modules/'.length);
    const parts = rest.split('/');
    const name = parts[0]?.startsWith('@') === true ? `${parts[0]}/${parts[1] ?? ''}` : (parts[0] ?? rest);
    return { kind: 'dependency', pkg: `node_modules/${name}`, file: `node_modules/${rest}` };
  }
  const segments = path.split('/');
  for (let i = segments.length - 2; i >= 0; i--) {
    const segment = segments[i]!;
    if (segment === 'test-peers' || (workspaces.includes(segment) && ['src', 'test'].includes(segments[i + 1] ?? ''))) {
      return { kind: 'ours', pkg: segment, file: segments.slice(i).join('/') };
    }
  }
  // A bundle in a temporary directory (the edge scenario's gateway), an -e script...: its base name.
  return { kind: 'other', pkg: `other: ${segments.at(-1) ?? path}`, file: segments.at(-1) ?? path };
}
