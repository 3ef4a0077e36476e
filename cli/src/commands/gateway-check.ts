import { parseGatewayAgentConfig, probeRegisterMap, readRegisterMapFile, type GatewayAgentConfigInput } from '@cityops/edge-agent';
import { cliErrors } from '../cli-errors.ts';

/**
 * `cityops gateway --check`: validates the gateway's configuration and its register map, then reads
 * every register once and prints what each gave, one JSON line per outcome. Connects to no broker
 * and publishes nothing. Any problem ends it with CLI_ERR_CHECK_FAILED (exit code 1) after all
 * outcomes are printed, so an installer sees every problem in one run.
 */
export async function gatewayCheck(config: GatewayAgentConfigInput, mapFile: string | undefined, out: NodeJS.WritableStream): Promise<void> {
  const print = (line: object) => out.write(`${JSON.stringify(line)}\n`);
  let problems = 0;
  try {
    parseGatewayAgentConfig(config);
    print({ check: 'config', ok: true });
  } catch (err) {
    problems++;
    print({ check: 'config', ok: false, code: (err as { code?: string }).code, message: (err as Error).message });
  }
  if (mapFile !== undefined) {
    const result = await readRegisterMapFile(mapFile);
    if (!result.ok) {
      problems += result.problems.length;
      print({ check: 'map', ok: false, file: mapFile, code: 'AGENT_ERR_MODBUS_MAP', problems: result.problems });
    } else {
      print({ check: 'map', ok: true, file: mapFile, registers: result.map.registers.length });
      for (const outcome of await probeRegisterMap(result.map)) {
        if (!outcome.ok) problems++;
        print({ check: 'register', ...outcome });
      }
    }
  }
  print({ check: 'done', ok: problems === 0, problems });
  if (problems > 0) throw cliErrors.CLI_ERR_CHECK_FAILED(`${problems} problem${problems === 1 ? '' : 's'}; see the lines above`);
}
