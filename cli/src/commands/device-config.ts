import { readFile } from 'node:fs/promises';
import { cliErrors } from '../cli-errors.ts';
import { callApi, type Target } from './device-target.ts';

interface ConfigView {
  device: string;
  status: string;
  desired: { version: number; author: string; issuedAt: number; config: unknown } | null;
  reported: { version: number; state: string; reason: string; reportedAt: number } | null;
  history: { version: number; author: string; issuedAt: number }[];
}

const when = (ms: number) => new Date(ms).toISOString();

function describe(view: ConfigView): string {
  const lines = [`device ${view.device}: ${view.status}`];
  const { desired, reported } = view;
  lines.push(desired === null ? '  desired:  none set' : `  desired:  version ${desired.version} by ${desired.author} at ${when(desired.issuedAt)}`);
  if (reported === null) lines.push('  reported: nothing yet');
  else lines.push(`  reported: version ${reported.version} ${reported.state} at ${when(reported.reportedAt)}${reported.reason === '' ? '' : `: ${reported.reason}`}`);
  if (desired !== null) lines.push(`  ${JSON.stringify(desired.config)}`);
  return `${lines.join('\n')}\n`;
}

/**
 * `cityops device config <id> [--set FILE]`: a gateway's desired configuration against what it
 * reported, or a new version from a JSON file. Through the API only: the running ingest is what
 * keeps the version and delivers it to the gateway.
 */
export async function deviceConfig(target: Target, id: string, file: string | undefined, json: boolean, out: NodeJS.WritableStream): Promise<void> {
  if (target.api === undefined) throw cliErrors.CLI_ERR_USAGE('cityops device config needs --api URL --token T (a running cityops delivers the configuration)');
  const path = `/v1/devices/${encodeURIComponent(id)}/config`;
  if (file !== undefined) {
    let body: unknown;
    try {
      body = JSON.parse(await readFile(file, 'utf8'));
    } catch (err) {
      throw cliErrors.CLI_ERR_USAGE(`--set ${file}: not a readable JSON file (${(err as Error).message})`);
    }
    const set = (await callApi(target, 'PUT', path, body)) as { version: number };
    out.write(json ? `${JSON.stringify(set)}\n` : `device ${id}: version ${set.version} set; the gateway applies it when it next hears from the broker\n`);
    return;
  }
  const view = (await callApi(target, 'GET', path)) as ConfigView;
  out.write(json ? `${JSON.stringify(view)}\n` : describe(view));
}
