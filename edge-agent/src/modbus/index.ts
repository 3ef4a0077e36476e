export * from './register-map-schema.ts';
export { validateRegisterMap, parseRegisterMap, registerWidth, type RegisterMapResult } from './register-map.ts';
export { decodeRegister, encodeRegister } from './register-decode.ts';
export { planReads, MAX_BITS_PER_REQUEST, MAX_REGISTERS_PER_REQUEST, type ReadRequest } from './read-plan.ts';
export { createModbusBus, type ModbusBus, type ModbusBusStats, type ModbusClient } from './modbus-bus.ts';
export { createModbusSource, type ModbusSource, type ModbusSourceDeps, type ModbusSourceStats } from './modbus-source.ts';
export { probeRegisterMap, type RegisterProbe } from './modbus-probe.ts';
export type { SensorHealth, SensorState } from './sensor-health.ts';
export { readRegisterMapFile, loadRegisterMapFile, MAX_REGISTER_MAP_BYTES } from './register-map-file.ts';
