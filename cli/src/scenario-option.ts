import { isCityopsError } from '@cityops/protocol';
import { findScenario, type ScenarioSpec } from '@cityops/simulators';
import { cliErrors } from './cli-errors.ts';

/** `--scenario NAME`: a scenario of the simulated city, or one usage line naming those there are (exit 2). */
export function scenarioOption(name: string): ScenarioSpec {
  try {
    return findScenario(name);
  } catch (err) {
    if (isCityopsError(err, 'SIM_ERR_SCENARIO_UNKNOWN')) throw cliErrors.CLI_ERR_USAGE(`--scenario: ${err.message} (or list)`, err);
    throw err;
  }
}
