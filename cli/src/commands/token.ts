import { parseArgs } from 'node:util';
import { ACCESS_ROLES, formatPlace, mintAccessToken, parsePlace, type AccessRole } from '@cityops/protocol';
import { cliErrors } from '../cli-errors.ts';

export const tokenUsage = `cityops token new --role admin|operator|department|analyst|auditor|venue --name NAME [--department ID ...] [--venue PLACE] [--json]
  a new API token (256 random bits) and its config entry { name, role, tokenSha256[, departments][, venue] } for
  auth.tokens (analytics) or http.tokens (ingest, verifier), or a file for cityops up --tokens. The token
  is printed once; only its SHA-256 goes into configuration.`;

export function tokenCommand(argv: string[], out: NodeJS.WritableStream): Promise<void> {
  const [sub, ...rest] = argv;
  if (sub !== 'new') {
    const got = sub === undefined ? 'nothing' : JSON.stringify(sub.slice(0, 60));
    return Promise.reject(cliErrors.CLI_ERR_USAGE(`the subcommand is "new", got ${got}\n\n${tokenUsage}`));
  }
  const { values } = parseArgs({
    args: rest,
    options: {
      role: { type: 'string' },
      name: { type: 'string' },
      department: { type: 'string', multiple: true },
      /** Role venue: the place (district/subdistrict/grid[/building]) the verifier records its checks at. */
      venue: { type: 'string' },
      json: { type: 'boolean', default: false },
    },
  });
  const role = values.role as AccessRole | undefined;
  if (role === undefined || !ACCESS_ROLES.includes(role)) return Promise.reject(cliErrors.CLI_ERR_USAGE(`--role must be one of ${ACCESS_ROLES.join(', ')}`));
  if (values.name === undefined || values.name.trim() === '') return Promise.reject(cliErrors.CLI_ERR_USAGE('--name names who holds the token'));
  const departments = values.department;
  if ((role === 'department') !== (departments !== undefined && departments.length > 0)) {
    return Promise.reject(cliErrors.CLI_ERR_USAGE('--department is required for role department, and only for it'));
  }
  if ((role === 'venue') !== (values.venue !== undefined)) {
    return Promise.reject(cliErrors.CLI_ERR_USAGE('--venue district/subdistrict/grid[/building] is required for role venue, and only for it'));
  }
  const venue = values.venue === undefined ? undefined : formatPlace(parsePlace(values.venue));
  const { token, entry } = mintAccessToken(values.name.trim(), role, departments, venue);
  out.write(
    values.json
      ? `${JSON.stringify({ token, entry })}\n`
      : `token (shown once, give it to ${entry.name}): ${token}\nconfig entry: ${JSON.stringify(entry)}\n`,
  );
  return Promise.resolve();
}
