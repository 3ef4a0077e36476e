import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createTokenAuthenticator, type AccessTokenEntry } from '@cityops/protocol';
import { tokenCommand } from '../src/commands/token.ts';

async function run(argv: string[]): Promise<string> {
  const out = new PassThrough();
  let text = '';
  out.on('data', (c: Buffer) => (text += c.toString()));
  await tokenCommand(argv, out);
  return text;
}

describe('cityops token new', () => {
  it('prints a token once and an entry holding only its hash, which authenticates it', async () => {
    const { token, entry } = JSON.parse(await run(['new', '--role', 'department', '--name', 'Pudong water', '--department', 'pudong-water', '--json'])) as {
      token: string;
      entry: AccessTokenEntry;
    };
    expect(token.length).toBeGreaterThanOrEqual(32);
    expect(JSON.stringify(entry)).not.toContain(token);
    expect(createTokenAuthenticator([entry]).authenticate(`Bearer ${token}`)).toEqual({ name: 'Pudong water', role: 'department', departments: ['pudong-water'] });
    const text = await run(['new', '--role', 'analyst', '--name', 'ana']);
    expect(text).toMatch(/^token \(shown once, give it to ana\): \S{43}\nconfig entry: \{"name":"ana","role":"analyst","tokenSha256":"[0-9a-f]{64}"\}\n$/);
  });

  it('refuses an unknown role, a missing name, and departments on the wrong role', async () => {
    await expect(run(['new', '--role', 'root', '--name', 'x'])).rejects.toThrow(/--role must be one of/);
    await expect(run(['new', '--role', 'analyst'])).rejects.toThrow(/--name/);
    await expect(run(['new', '--role', 'department', '--name', 'x'])).rejects.toThrow(/--department is required/);
    await expect(run(['new', '--role', 'analyst', '--name', 'x', '--department', 'd'])).rejects.toThrow(/--department is required/);
    await expect(run(['list'])).rejects.toThrow(/cityops token new/);
  });

  it('binds a venue token to a place (issue 16), and only a venue token', async () => {
    const { token, entry } = JSON.parse(await run(['new', '--role', 'venue', '--name', 'gate', '--venue', 'huangpu/nanjing-east/g001/b01', '--json'])) as { token: string; entry: AccessTokenEntry };
    expect(createTokenAuthenticator([entry]).authenticate(`Bearer ${token}`)).toEqual({ name: 'gate', role: 'venue', venue: 'huangpu/nanjing-east/g001/b01' });
    await expect(run(['new', '--role', 'venue', '--name', 'x'])).rejects.toThrow(/--venue .* is required for role venue/);
    await expect(run(['new', '--role', 'auditor', '--name', 'x', '--venue', 'huangpu/nanjing-east/g001'])).rejects.toThrow(/--venue/);
    await expect(run(['new', '--role', 'venue', '--name', 'x', '--venue', 'Not A Place'])).rejects.toMatchObject({ code: 'PROTOCOL_ERR_PLACE_INVALID' });
  });
});
