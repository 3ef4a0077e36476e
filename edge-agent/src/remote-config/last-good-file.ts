import { readFile } from 'node:fs/promises';
import { createDeviceConfigMessageReader, type DeviceConfigMessage } from '@cityops/protocol';
import { agentErrors } from '../errors.ts';
import { writeFileAtomic } from '../journal/fs-durability.ts';

export interface LastGoodFile {
  /** The stored version, or undefined when there is none; throws AGENT_ERR_CONFIG_STORE for a file that cannot be read. */
  load(): Promise<DeviceConfigMessage | undefined>;
  /** Replaces it atomically (a crash leaves the old or the new one, fsynced with its directory). */
  save(message: DeviceConfigMessage): Promise<void>;
}

/**
 * The last remote configuration the gateway applied, on disk beside its journal: the gateway starts
 * with it before it reaches the broker, so a restart in a dead zone keeps what the operator set.
 */
export function createLastGoodFile(path: string): LastGoodFile {
  const read = createDeviceConfigMessageReader();
  return {
    async load() {
      let text: string;
      try {
        text = await readFile(path, 'utf8');
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
        throw agentErrors.AGENT_ERR_CONFIG_STORE(`cannot read ${path}: ${(err as Error).message}`, err);
      }
      const result = read(text);
      if (result.problems !== undefined) throw agentErrors.AGENT_ERR_CONFIG_STORE(`${path}: ${result.problems.join('; ')}`);
      return result.value;
    },
    async save(message) {
      try {
        await writeFileAtomic(path, `${JSON.stringify(message)}\n`);
      } catch (err) {
        throw agentErrors.AGENT_ERR_CONFIG_STORE(`cannot write ${path}: ${(err as Error).message}`, err);
      }
    },
  };
}
