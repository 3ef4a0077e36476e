import { isCityopsError, type CityopsError } from '@cityops/protocol';
import modbusSerial from 'modbus-serial';
import type { ModbusRTU } from 'modbus-serial/ModbusRTU.js';
import { agentErrors } from '../errors.ts';
import type { ModbusTable, RegisterMap } from './register-map-schema.ts';

/** One Modbus line (a TCP connection or a serial port) and its master side. One request at a time. */
export interface ModbusBus {
  /**
   * Registers (or bits, as 0/1) from `address` on. Rejects with AGENT_ERR_MODBUS_EXCEPTION (the unit
   * answered with an exception; `modbusCode` on the error), AGENT_ERR_MODBUS_TIMEOUT or
   * AGENT_ERR_MODBUS_TRANSPORT, after the map's retries.
   */
  read(unit: number, table: ModbusTable, address: number, count: number): Promise<number[]>;
  stats(): ModbusBusStats;
  close(): Promise<void>;
}

export interface ModbusBusStats {
  requests: number;
  /** Tries after the first that a request took (timeouts and broken connections). */
  retries: number;
  /** Connections (TCP) or port openings (RTU) made. */
  opens: number;
  open: boolean;
}

/** modbus-serial's client, as far as the bus uses it (a test may hand in its own). */
export type ModbusClient = Pick<
  ModbusRTU,
  'connectTCP' | 'connectRTUBuffered' | 'setID' | 'setTimeout' | 'readHoldingRegisters' | 'readInputRegisters' | 'readCoils' | 'readDiscreteInputs' | 'close' | 'isOpen' | 'on'
>;

// modbus-serial is CommonJS whose module.exports is the client class; its typings declare an ES default.
const ModbusRTUClient = modbusSerial as unknown as new () => ModbusRTU;

export interface ModbusBusDeps {
  readonly createClient?: () => ModbusClient;
}

/** The Modbus exception code on an error from modbus-serial, if the unit answered with one. */
export function modbusExceptionCode(err: unknown): number | undefined {
  if (isCityopsError(err)) return (err as CityopsError & { modbusCode?: number }).modbusCode;
  const code = (err as { modbusCode?: unknown } | undefined)?.modbusCode;
  return typeof code === 'number' ? code : undefined;
}

function classify(err: unknown, what: string): CityopsError {
  const code = modbusExceptionCode(err);
  if (code !== undefined) {
    const error = agentErrors.AGENT_ERR_MODBUS_EXCEPTION(`${what}: exception ${code}`, err);
    return Object.assign(error, { modbusCode: code });
  }
  const errno = (err as { errno?: unknown } | undefined)?.errno;
  if (errno === 'ETIMEDOUT') return agentErrors.AGENT_ERR_MODBUS_TIMEOUT(what, err);
  return agentErrors.AGENT_ERR_MODBUS_TRANSPORT(`${what}: ${(err as Error | undefined)?.message ?? String(err)}`, err);
}

/** Closes within a bound: modbus-serial's close callback never comes for a port that is half gone. */
function closeClient(client: ModbusClient, timeoutMs: number): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, timeoutMs);
    try {
      client.close(() => {
        clearTimeout(timer);
        resolve();
      });
    } catch {
      clearTimeout(timer);
      resolve();
    }
  });
}

/**
 * The Modbus line of a register map, through modbus-serial (TCP, or RTU through serialport). Opens
 * on first use and again after the line broke; a failed open is a transport error of that request,
 * so a bus that is down costs one failed request per poll, never a crash or a busy loop.
 */
export function createModbusBus(map: Pick<RegisterMap, 'connection' | 'timeoutMs' | 'retries'>, deps: ModbusBusDeps = {}): ModbusBus {
  const createClient = deps.createClient ?? (() => new ModbusRTUClient());
  const stats: ModbusBusStats = { requests: 0, retries: 0, opens: 0, open: false };
  const { connection } = map;
  const where = connection.kind === 'tcp' ? `${connection.host}:${connection.port}` : connection.path;
  let client: ModbusClient | undefined;
  let closed = false;

  async function open(): Promise<ModbusClient> {
    if (client?.isOpen === true) return client;
    if (client !== undefined) await closeClient(client, map.timeoutMs);
    const next = createClient();
    // A socket error after a request ended must not become an unhandled 'error' event.
    next.on('error', () => undefined);
    client = next;
    if (connection.kind === 'tcp') {
      await next.connectTCP(connection.host, { port: connection.port, timeout: map.timeoutMs });
    } else {
      await next.connectRTUBuffered(connection.path, {
        baudRate: connection.baudRate,
        parity: connection.parity,
        dataBits: connection.dataBits,
        stopBits: connection.stopBits,
      });
    }
    next.setTimeout(map.timeoutMs);
    stats.opens++;
    return next;
  }

  async function readOnce(unit: number, table: ModbusTable, address: number, count: number): Promise<number[]> {
    const c = await open();
    c.setID(unit);
    switch (table) {
      case 'holding':
        return (await c.readHoldingRegisters(address, count)).data;
      case 'input':
        return (await c.readInputRegisters(address, count)).data;
      case 'coil':
        return (await c.readCoils(address, count)).data.slice(0, count).map(Number);
      case 'discrete':
        return (await c.readDiscreteInputs(address, count)).data.slice(0, count).map(Number);
    }
  }

  return {
    async read(unit, table, address, count) {
      if (closed) throw agentErrors.AGENT_ERR_MODBUS_TRANSPORT(`${where}: the bus is closed`);
      stats.requests++;
      const what = `${where} unit ${unit} ${table} ${address}+${count}`;
      for (let attempt = 0; ; attempt++) {
        try {
          return await readOnce(unit, table, address, count);
        } catch (err) {
          const error = classify(err, what);
          // An exception is an answer: asking again gets the same one.
          if (error.code === 'AGENT_ERR_MODBUS_EXCEPTION' || attempt >= map.retries || closed) throw error;
          if (error.code === 'AGENT_ERR_MODBUS_TRANSPORT' && client !== undefined) {
            await closeClient(client, map.timeoutMs);
            client = undefined;
          }
          stats.retries++;
        }
      }
    },
    stats: () => ({ ...stats, open: client?.isOpen === true }),
    async close() {
      closed = true;
      const c = client;
      client = undefined;
      if (c !== undefined) await closeClient(c, map.timeoutMs);
    },
  };
}
