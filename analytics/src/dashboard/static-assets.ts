import { readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export interface StaticAsset {
  readonly body: Buffer;
  readonly type: string;
}

/** The page's own files: analytics/dashboard/. */
export const DASHBOARD_DIR = fileURLToPath(new URL('../../dashboard/', import.meta.url));

const TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
};

const OWN_FILE = /^[a-z0-9][a-z0-9-]*\.(html|js|css|svg)$/;

function typeOf(name: string): string {
  return TYPES[name.slice(name.lastIndexOf('.'))] ?? 'application/octet-stream';
}

/** The browser builds of the front end's libraries, from node_modules: served locally, never a CDN. */
function vendorFiles(): Record<string, string> {
  const require = createRequire(import.meta.url);
  const uplot = dirname(require.resolve('uplot/package.json'));
  return {
    'preact.mjs': require.resolve('preact'),
    'preact-hooks.mjs': require.resolve('preact/hooks'),
    'htm.mjs': join(dirname(require.resolve('htm')), 'htm.module.js'),
    'uplot.mjs': join(uplot, 'dist', 'uPlot.esm.js'),
    'uplot.css': join(uplot, 'dist', 'uPlot.min.css'),
  };
}

/**
 * Every file the dashboard serves, read once at start into memory (a few hundred KB). Requests name
 * a key of these maps, never a path: nothing outside them can be asked for.
 */
export function loadStaticAssets(dir: string = DASHBOARD_DIR): { own: ReadonlyMap<string, StaticAsset>; vendor: ReadonlyMap<string, StaticAsset> } {
  const own = new Map<string, StaticAsset>();
  for (const name of readdirSync(dir)) {
    if (OWN_FILE.test(name)) own.set(name, { body: readFileSync(join(dir, name)), type: typeOf(name) });
  }
  const vendor = new Map<string, StaticAsset>();
  for (const [name, path] of Object.entries(vendorFiles())) vendor.set(name, { body: readFileSync(path), type: typeOf(name) });
  return { own, vendor };
}
