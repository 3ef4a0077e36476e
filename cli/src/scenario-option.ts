import { isCityopsError } from '@cityops/protocol';
import { createCityIncidents, findScenario, type City, type CityIncidents, type ScannerSite } from '@cityops/simulators';
import { cliErrors } from './cli-errors.ts';

/**
 * `--scenario NAME`: the incidents of the simulated city, scheduled from now. An unknown name, or
 * an incident the city has no place for, is one usage line (exit 2).
 */
export function cityIncidentsOption(name: string, city: City, sites: readonly ScannerSite[]): CityIncidents {
  try {
    return createCityIncidents({ scenario: findScenario(name), city, sites, startMs: Date.now() });
  } catch (err) {
    if (isCityopsError(err, 'SIM_ERR_SCENARIO_UNKNOWN') || isCityopsError(err, 'SIM_ERR_SCENARIO_CITY')) throw cliErrors.CLI_ERR_USAGE(`--scenario: ${err.message} (or list)`, err);
    throw err;
  }
}
