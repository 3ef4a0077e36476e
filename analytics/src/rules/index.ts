export { createRuleEngine, type RuleEngine, type RuleEngineDeps, type RuleEngineTimers } from './rule-engine.ts';
export { ruleEngineConfigSchema, parseRuleEngineConfig, type RuleEngineConfig, type RuleEngineConfigInput } from './rule-engine-config.ts';
export { CITY_RULES_PATH, loadRuleDefinitions, parseRuleDefinitions, type RuleSet, type ResolvedThresholdRule } from './rule-definitions.ts';
export type { RuleDefinition, RuleKind } from './rule-schema.ts';
export type { MqttConnect } from './rule-stream.ts';
export { createQuantileSketch, type QuantileSketch } from './quantile-sketch.ts';
