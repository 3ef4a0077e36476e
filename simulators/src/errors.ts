import { defineErrors } from '@cityops/protocol';

export const simulatorErrors = defineErrors({
  SIM_ERR_SCENARIO_UNKNOWN: { message: 'No such scenario', statusCode: 2 },
  SIM_ERR_SCENARIO_CITY: { message: 'The city has no place for an incident of the scenario', statusCode: 2 },
});
