import { read } from 'node:fs';
import { promisify } from 'node:util';
import type { BindingInterface } from '@serialport/bindings-cpp';
import type { SerialScannerConfig } from './serial-config.ts';

/** One open of a serial device: its bytes until it goes away or is closed. */
export interface SerialConnection {
  /** Ends (never throws) when the device goes away (hang-up, EIO, unplug) or `close()` is called. */
  readonly chunks: AsyncIterable<Buffer>;
  /** Why `chunks` ended on its own: the device's error. Undefined while open or after `close()`. */
  endReason(): Error | undefined;
  /** Idempotent; resolves once the descriptor is released. */
  close(): Promise<void>;
}

export type OpenSerial = (config: SerialScannerConfig) => Promise<SerialConnection>;

const readAsync = promisify(read);

/**
 * read(2) returning 0 on a terminal means end of file: the line was hung up (a CDC-ACM scanner
 * unplugged, the far end of a pty gone). bindings-cpp's unixRead reads again at once on 0, forever,
 * at 100% CPU (serialport/bindings-cpp#162, measured here: 6.6 s of CPU in 10 s after an unplug):
 * we end the read as a disconnect instead. With VMIN=1 and O_NONBLOCK an empty line is EAGAIN, never 0.
 */
async function readUntilHangup(...args: Parameters<typeof readAsync>): ReturnType<typeof readAsync> {
  const result = await readAsync(...args);
  if (result.bytesRead === 0) throw Object.assign(new Error('end of file: the device hung up'), { code: 'EOF', disconnect: true });
  return result;
}

/** The platform's binding, its POSIX reads made to end on a hang-up (Windows reads differently and is left as it is). */
async function hangupAwareBinding(): Promise<BindingInterface> {
  const { autoDetect } = await import('@serialport/bindings-cpp');
  const base = autoDetect() as BindingInterface;
  if (process.platform === 'win32') return base;
  // Not in the package's index; a plain dist module (the package has no "exports" map).
  const { unixRead } = await import('@serialport/bindings-cpp/dist/unix-read.js');
  return {
    list: () => base.list(),
    async open(options) {
      const port = (await base.open(options)) as Parameters<typeof unixRead>[0]['binding'];
      port.read = async (buffer, offset, length) => {
        if (!port.isOpen) throw Object.assign(new Error('Port is not open'), { canceled: true });
        return unixRead({ binding: port, buffer, offset, length, fsReadAsync: readUntilHangup });
      };
      return port;
    },
  };
}

/**
 * Opens the device with node-serialport's stream over its N-API binding (prebuilt in the npm
 * package, loaded by node-gyp-build: nothing is downloaded or compiled). Imported on first use, so an
 * agent that never reads a serial line does not load the native module.
 */
export const openSerialPort: OpenSerial = async (config) => {
  const { SerialPortStream } = await import('@serialport/stream');
  const port = new SerialPortStream({
    binding: await hangupAwareBinding(),
    path: config.path,
    baudRate: config.baudRate,
    dataBits: config.dataBits,
    stopBits: config.stopBits,
    parity: config.parity,
    rtscts: config.rtscts,
    xon: config.xonxoff,
    xoff: config.xonxoff,
    lock: config.lock,
    highWaterMark: config.readBufferBytes,
    autoOpen: false,
  });
  // Failures reach us through open's callback and the iterator; an 'error' without a listener would throw.
  port.on('error', () => {});
  await new Promise<void>((resolve, reject) => port.open((err) => (err ? reject(err) : resolve())));

  let closedByUs = false;
  let reason: Error | undefined;
  // 'close' carries a DisconnectedError (`disconnected: true`) when a read failed (EIO, EBADF, hang-up).
  port.once('close', (err?: Error | null) => {
    if (!closedByUs && err) reason = err;
  });

  async function* chunks(): AsyncGenerator<Buffer> {
    try {
      for await (const chunk of port) yield chunk as Buffer;
    } catch (err) {
      // A disconnect ends the stream as "Premature close" after its 'close' event.
      if (!closedByUs) reason ??= err as Error;
    }
    if (!closedByUs) reason ??= new Error('the device closed the line');
  }

  let closing: Promise<void> | undefined;
  return {
    chunks: chunks(),
    endReason: () => (closedByUs ? undefined : reason),
    close() {
      closedByUs = true;
      closing ??= new Promise<void>((resolve) => {
        if (!port.isOpen) {
          port.destroy();
          resolve();
          return;
        }
        // close() also ends a pending read; its error (if any) is of no use once we are leaving.
        port.close(() => {
          port.destroy();
          resolve();
        });
      });
      return closing;
    },
  };
};
