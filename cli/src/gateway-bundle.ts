/**
 * The gateway agent's production build: `cityops gateway` (gateway-main.ts) bundled by esbuild into
 * one ESM file that plain `node` runs, without tsx and without the rest of the CLI.
 * `npm run build:gateway` runs this file; the bench and the tests call `buildGatewayBundle()`.
 *
 * Measured during an outage of 1M readings (edge bench): from source under tsx the agent's RSS
 * peaked at 150-200 MiB; bundled, under `node --optimize-for-size`, at ~70 MiB. See the edge-agent
 * README, "Deploying the single file".
 */
import { chmod, cp, readFile, stat } from 'node:fs/promises';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build, type Plugin } from 'esbuild';

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** Where `npm run build:gateway` writes the gateway (ignored by git: `dist/`). */
export const GATEWAY_BUNDLE = join(REPO, 'edge-agent', 'dist', 'cityops-gateway.mjs');
export const GATEWAY_ENTRY = join(REPO, 'cli', 'src', 'gateway-main.ts');

/**
 * V8 flags the gateway runs with (the file's shebang carries them too). `--optimize-for-size`
 * keeps the young generation at 1 MiB semi-spaces and collects the old one sooner: at 100k+
 * readings/s the default lets the young generation grow to 2 x 16 MiB and promoted garbage pile
 * up, ~20 MiB of RSS more (measured), for no gain in speed on a gateway.
 */
export const GATEWAY_NODE_FLAGS: readonly string[] = Object.freeze(['--optimize-for-size']);

/**
 * Our workspaces' modules have no side effects at load (STYLE: no module-level singletons; a
 * top-level `compileSchemaCheck` or `defineErrors` only builds a value). Saying so lets esbuild
 * drop every module the entry does not use, even behind a barrel `index.ts`: without it,
 * `@cityops/edge-agent`'s index would bring the scanner, and through it the verifier (fastify,
 * piscina) and protocol's code modules (CBOR, COSE, X.509): 3.8 MB of source instead of 0.9.
 */
const workspaceModulesArePure: Plugin = {
  name: 'cityops-workspace-modules-are-pure',
  setup(b) {
    const inWorkspace = (path: string) => path.startsWith(REPO + sep) && !relative(REPO, path).split(sep).includes('node_modules');
    b.onResolve({ filter: /^(@cityops\/|\.\.?\/)/ }, async (args) => {
      if (args.kind === 'entry-point' || args.pluginData === workspaceModulesArePure) return undefined;
      const resolved = await b.resolve(args.path, { kind: args.kind, importer: args.importer, resolveDir: args.resolveDir, pluginData: workspaceModulesArePure });
      if (resolved.errors.length > 0 || !inWorkspace(resolved.path)) return resolved.errors.length > 0 ? { errors: resolved.errors } : undefined;
      return { path: resolved.path, sideEffects: false };
    });
  },
};

// The native serial-port binding (Modbus RTU, serial scanners) is not JavaScript: node-gyp-build
// loads it from `prebuilds/<platform>-<arch>/` beside the module that asks, found through the
// module's own __dirname, which in one bundled file is the bundle's. The bundle carries the Linux
// prebuilds (x64, arm64, arm: what gateways run) in its own `prebuilds/`, and the loader is pointed
// there: without this, opening a serial port failed with "__dirname is not defined".
const SERIALPORT_BINDINGS = join(REPO, 'node_modules', '@serialport', 'bindings-cpp');
const SERIALPORT_PLATFORMS = ['linux-x64', 'linux-arm64', 'linux-arm'] as const;
const serialPortBindingBesideBundle: Plugin = {
  name: 'cityops-serialport-binding-beside-bundle',
  setup(b) {
    b.onLoad({ filter: /[\\/]@serialport[\\/]bindings-cpp[\\/]dist[\\/]serialport-bindings\.js$/ }, async (args) => {
      const source = await readFile(args.path, 'utf8');
      const patched = source.replace("(0, path_1.join)(__dirname, '../')", '__cityopsBundleDir');
      if (patched === source) return { errors: [{ text: `${args.path}: the binding loader changed; update serialPortBindingBesideBundle` }] };
      return { contents: patched, loader: 'js' };
    });
  },
};

export interface AgentBundle {
  readonly outfile: string;
  readonly bytes: number;
}

/**
 * Bundles `entry` (an agent's main, e.g. gateway-main.ts or the edge bench's outage agent) the way
 * the gateway ships: ESM for Node 20, whitespace and syntax minified (V8 keeps the whole source
 * in its heap, and one non-ASCII comment would make it a two-byte string), names kept so stack
 * traces stay readable, an external source map for `node --enable-source-maps`.
 */
export async function buildAgentBundle(entry: string, outfile: string): Promise<AgentBundle> {
  await build({
    entryPoints: [entry],
    outfile,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    charset: 'ascii',
    legalComments: 'none',
    minifyWhitespace: true,
    minifySyntax: true,
    sourcemap: 'external',
    // The CommonJS dependencies (mqtt.js, pino) call require() for Node's built-ins.
    banner: {
      js: `#!/usr/bin/env -S node ${GATEWAY_NODE_FLAGS.join(' ')}\nimport { createRequire as __cityopsCreateRequire } from 'node:module'; const require = __cityopsCreateRequire(import.meta.url); import { fileURLToPath as __cityopsFileURLToPath } from 'node:url'; const __cityopsBundleDir = __cityopsFileURLToPath(new URL('.', import.meta.url));`,
    },
    plugins: [workspaceModulesArePure, serialPortBindingBesideBundle],
    logLevel: 'warning',
  });
  await chmod(outfile, 0o755); // runnable as ./cityops-gateway.mjs through its shebang
  for (const platform of SERIALPORT_PLATFORMS) {
    await cp(join(SERIALPORT_BINDINGS, 'prebuilds', platform), join(dirname(outfile), 'prebuilds', platform), { recursive: true });
  }
  return { outfile, bytes: (await stat(outfile)).size };
}

/** Builds edge-agent/dist/cityops-gateway.mjs (or `outfile`). Takes about a second. */
export async function buildGatewayBundle(outfile = GATEWAY_BUNDLE): Promise<AgentBundle> {
  return buildAgentBundle(GATEWAY_ENTRY, outfile);
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const built = await buildGatewayBundle();
  process.stdout.write(`${relative(process.cwd(), built.outfile)}: ${(built.bytes / 1024).toFixed(0)} KiB; run it with node ${GATEWAY_NODE_FLAGS.join(' ')}\n`);
}
