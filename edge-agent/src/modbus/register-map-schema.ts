import { readingSchema } from '@cityops/protocol';
import type { FromSchema } from 'json-schema-to-ts';

export const MODBUS_TABLES = ['holding', 'input', 'coil', 'discrete'] as const;
export const MODBUS_VALUE_TYPES = ['int16', 'uint16', 'int32', 'uint32', 'float32', 'bool'] as const;
export const MODBUS_ORDERS = ['big', 'little'] as const;

/** Modbus Application Protocol V1.1b3 §4.4: a data address is 16 bits. */
const address = { type: 'integer', minimum: 0, maximum: 65_535 } as const;
const finite = { type: 'number', minimum: -1e15, maximum: 1e15 } as const;

const tcpConnection = {
  type: 'object',
  additionalProperties: false,
  required: ['kind', 'host'],
  properties: {
    kind: { const: 'tcp' },
    host: { type: 'string', minLength: 1, maxLength: 253 },
    port: { type: 'integer', minimum: 1, maximum: 65_535, default: 502 },
  },
} as const;

const rtuConnection = {
  type: 'object',
  additionalProperties: false,
  required: ['kind', 'path'],
  properties: {
    kind: { const: 'rtu' },
    /** The serial device, e.g. /dev/ttyUSB0 (an RS-485 adapter). */
    path: { type: 'string', minLength: 1, maxLength: 4096 },
    baudRate: { type: 'integer', enum: [1200, 2400, 4800, 9600, 19_200, 38_400, 57_600, 115_200], default: 9600 },
    /** Modbus over Serial Line V1.02 §2.5.1: even parity is the default, none needs 2 stop bits. */
    parity: { type: 'string', enum: ['none', 'even', 'odd'], default: 'even' },
    dataBits: { type: 'integer', enum: [7, 8], default: 8 },
    stopBits: { type: 'integer', enum: [1, 2], default: 1 },
  },
} as const;

const registerSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['sensor', 'metric', 'unit', 'table', 'address'],
  properties: {
    sensor: { type: 'string', pattern: readingSchema.properties.sensor.pattern },
    metric: { type: 'string', pattern: readingSchema.properties.metric.pattern },
    /** The Modbus unit (slave) id: 1..247 on a serial line (§2.2 of the serial line spec), 0..255 over TCP. */
    unit: { type: 'integer', minimum: 0, maximum: 255 },
    table: { type: 'string', enum: MODBUS_TABLES },
    address,
    /** Registers: int16 (default) .. float32; coils and discrete inputs are `bool` (read as 0 or 1). */
    type: { type: 'string', enum: MODBUS_VALUE_TYPES },
    /** For 32-bit types: `big` = the first register holds the high word (ABCD), `little` = CDAB. */
    wordOrder: { type: 'string', enum: MODBUS_ORDERS, default: 'big' },
    /** Within each register: `big` = as the standard sends it, `little` = bytes swapped (BADC). */
    byteOrder: { type: 'string', enum: MODBUS_ORDERS, default: 'big' },
    /** value = raw x scale + offset */
    scale: { ...finite, default: 1 },
    offset: { ...finite, default: 0 },
    intervalMs: { type: 'integer', minimum: 10, maximum: 86_400_000, default: 5000 },
    /** A value above `above` or below `below` is an alarm reading (the alarm lane, sent first). */
    alarm: {
      type: 'object',
      additionalProperties: false,
      minProperties: 1,
      properties: { above: finite, below: finite },
    },
  },
} as const;

/** A gateway's Modbus register map: one bus (TCP or RTU) and what to read on it. */
export const registerMapSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['connection', 'registers'],
  properties: {
    connection: {
      type: 'object',
      required: ['kind'],
      properties: { kind: { type: 'string', enum: ['tcp', 'rtu'] } },
      if: { properties: { kind: { const: 'tcp' } } },
      then: tcpConnection,
      else: rtuConnection,
    },
    /** Per request: no answer within this long is a timeout. */
    timeoutMs: { type: 'integer', minimum: 10, maximum: 60_000, default: 1000 },
    /** Further tries after a timeout or a broken connection (not after an exception: the unit answered). */
    retries: { type: 'integer', minimum: 0, maximum: 10, default: 1 },
    /**
     * Unread registers between two wanted ones that may still be read in the same request. 0 reads
     * only contiguous ones together: some devices answer exception 2 for a gap.
     */
    maxGap: { type: 'integer', minimum: 0, maximum: 100, default: 0 },
    /** Readings polled but not yet taken by the agent. When full, polling waits (back-pressure). */
    maxQueuedReadings: { type: 'integer', minimum: 1, maximum: 100_000, default: 1000 },
    registers: { type: 'array', minItems: 1, maxItems: 10_000, items: registerSchema },
  },
} as const;

/** What an operator writes: defaults may be left out. */
export type RegisterMapInput = FromSchema<typeof registerMapSchema, { keepDefaultedPropertiesOptional: true }>;
export type ModbusTable = (typeof MODBUS_TABLES)[number];
export type ModbusValueType = (typeof MODBUS_VALUE_TYPES)[number];
export type ModbusOrder = (typeof MODBUS_ORDERS)[number];

export interface TcpConnection {
  readonly kind: 'tcp';
  readonly host: string;
  readonly port: number;
}

export interface RtuConnection {
  readonly kind: 'rtu';
  readonly path: string;
  readonly baudRate: number;
  readonly parity: 'none' | 'even' | 'odd';
  readonly dataBits: 7 | 8;
  readonly stopBits: 1 | 2;
}

export interface RegisterSpec {
  readonly sensor: string;
  readonly metric: string;
  readonly unit: number;
  readonly table: ModbusTable;
  readonly address: number;
  readonly type: ModbusValueType;
  readonly wordOrder: ModbusOrder;
  readonly byteOrder: ModbusOrder;
  readonly scale: number;
  readonly offset: number;
  readonly intervalMs: number;
  readonly alarm?: { readonly above?: number; readonly below?: number };
}

/** A validated map: every default filled in, `type` resolved, frozen. */
export interface RegisterMap {
  readonly connection: TcpConnection | RtuConnection;
  readonly timeoutMs: number;
  readonly retries: number;
  readonly maxGap: number;
  readonly maxQueuedReadings: number;
  readonly registers: readonly RegisterSpec[];
}
