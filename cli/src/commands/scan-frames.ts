import { createFrameCommandSource, createFrameFolderSource, type ScanSource } from '@cityops/edge-agent';
import type { Logger } from 'pino';
import { cliErrors } from '../cli-errors.ts';

export const scanFramesUsage = `  --frames-command "CMD": codes from camera frames instead of stdin: CMD (run by sh) writes concatenated JPEGs to
  stdout, e.g. "ffmpeg -loglevel error -f v4l2 -i /dev/video0 -f image2pipe -vcodec mjpeg -q:v 5 -"; frames the door
  cannot keep up with are dropped, CMD is restarted with backoff when it exits. --frames-dir DIR: each new PNG/JPEG
  in DIR is read once (write as a dot-file, then rename). A code held in view is checked once; it is checked again
  after it was out of sight for --presentation-gap-ms (2000). Both run until a signal.`;

/** The frame source the options ask for, or undefined for stdin lines. */
export function frameSourceFromOptions(
  values: { readonly 'frames-command'?: string | undefined; readonly 'frames-dir'?: string | undefined; readonly 'presentation-gap-ms'?: string | undefined },
  logger: Logger,
): ScanSource<object> | undefined {
  const command = values['frames-command'];
  const dir = values['frames-dir'];
  if (command !== undefined && dir !== undefined) throw cliErrors.CLI_ERR_USAGE('--frames-command and --frames-dir exclude each other');
  const gap = values['presentation-gap-ms'];
  const presentation = gap === undefined ? {} : { absentGapMs: Number(gap) };
  try {
    if (command !== undefined) return createFrameCommandSource({ command: ['sh', '-c', command], presentation }, { logger: logger.child({ component: 'frames' }) });
    if (dir !== undefined) return createFrameFolderSource({ dir, presentation }, { logger: logger.child({ component: 'frames' }) });
  } catch (err) {
    throw cliErrors.CLI_ERR_USAGE((err as Error).message);
  }
  if (gap !== undefined) throw cliErrors.CLI_ERR_USAGE('--presentation-gap-ms goes with --frames-command or --frames-dir');
  return undefined;
}
