import { parseArgs } from 'node:util';
import { benchErrors } from '../bench-errors.ts';
import { readProfiles, repositoryWorkspaces } from './profile-directory.ts';
import { renderProfiles } from './profile-markdown.ts';

const USAGE = [
  'npm run bench:profile-report -- <file.cpuprofile|dir>... [--top N]',
  '  prints, as Markdown, each profile\'s process and thread, its busy CPU time, the shares of GC and',
  '  (program), its top functions by self time and the rollup by package; a directory is a profiled',
  '  run\'s (npm run bench -- <scenario> --profile writes <out>/<date>-profiles/<scenario>/).',
].join('\n');

/** `npm run bench:profile-report`: the profile report of saved profiles, so a past run can be re-read. */
export async function profileReport(argv: readonly string[]): Promise<string> {
  let parsed;
  try {
    parsed = parseArgs({ args: [...argv], allowPositionals: true, options: { top: { type: 'string', default: '20' }, help: { type: 'boolean', short: 'h', default: false } } });
  } catch (err) {
    throw benchErrors.BENCH_ERR_USAGE((err as Error).message, err);
  }
  if (parsed.values.help) return USAGE;
  const top = Number(parsed.values.top);
  if (!Number.isInteger(top) || top < 1 || top > 1000) throw benchErrors.BENCH_ERR_USAGE(`--top must be a whole number from 1 to 1000, got ${JSON.stringify(parsed.values.top.slice(0, 40))}`);
  if (parsed.positionals.length === 0) throw benchErrors.BENCH_ERR_USAGE('name a .cpuprofile file or a directory of them');
  const workspaces = await repositoryWorkspaces();
  const lines: string[] = [];
  for (const path of parsed.positionals) {
    const threads = await readProfiles(path, { top, workspaces });
    lines.push(`# CPU profiles: ${path}`, '', ...(threads.length === 0 ? ['No .cpuprofile there.'] : renderProfiles(threads, { headingLevel: 2, top })), '');
  }
  return lines.join('\n');
}

if (process.argv[1] === import.meta.filename) {
  profileReport(process.argv.slice(2)).then(
    (text) => process.stdout.write(`${text}\n`),
    (err: unknown) => {
      const e = err as Error & { code?: string };
      process.stderr.write(`npm run bench:profile-report: ${e.code === undefined ? '' : `${e.code}: `}${e.message.split('\n')[0] ?? ''}\n`);
      process.exit(e.code === 'BENCH_ERR_USAGE' ? 2 : 1);
    },
  );
}
