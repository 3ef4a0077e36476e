import { open } from 'node:fs/promises';
import { createRecordReader } from './record-reader.ts';
import { SEGMENT_HEADER_BYTES, segmentHeaderProblem, type Lane } from './record-format.ts';

export interface SegmentScan {
  readonly fileBytes: number;
  /** End of the last intact record (the header size when there is none). */
  readonly validBytes: number;
  readonly records: number;
  readonly readings: number;
  readonly maxBoot: number;
  /** Records that end at or before `ackOffset`, and where the last of them ends. */
  readonly ackedRecords: number;
  readonly ackedReadings: number;
  readonly ackedEnd: number;
  /** Why the scan stopped before the end of the file; `headerBad` when no record is usable. */
  readonly problem?: string;
  readonly headerBad?: boolean;
}

/**
 * Reads a whole segment, chunk by chunk, checking every record's length and CRC. Nothing is
 * changed on disk: the caller truncates at `validBytes` when there is a problem.
 */
export async function scanSegment(
  path: string,
  lane: Lane,
  ackOffset: number,
  chunkBytes: number,
  limit = Number.POSITIVE_INFINITY,
): Promise<SegmentScan> {
  const fh = await open(path, 'r');
  try {
    const fileBytes = Math.min((await fh.stat()).size, limit);
    const header = Buffer.alloc(SEGMENT_HEADER_BYTES);
    const { bytesRead } = await fh.read(header, 0, SEGMENT_HEADER_BYTES, 0);
    const headerProblem = segmentHeaderProblem(header.subarray(0, bytesRead), lane);
    const empty = { fileBytes, validBytes: 0, records: 0, readings: 0, maxBoot: 0, ackedRecords: 0, ackedReadings: 0 };
    if (headerProblem !== undefined) return { ...empty, ackedEnd: SEGMENT_HEADER_BYTES, problem: headerProblem, headerBad: true };

    const reader = createRecordReader(fh, SEGMENT_HEADER_BYTES, fileBytes, chunkBytes);
    let validBytes = SEGMENT_HEADER_BYTES;
    let records = 0;
    let readings = 0;
    let maxBoot = 0;
    let ackedRecords = 0;
    let ackedReadings = 0;
    let ackedEnd = SEGMENT_HEADER_BYTES;
    for (;;) {
      const step = await reader.next();
      if (step.kind === 'end') break;
      if (step.kind === 'corrupt') {
        return { ...empty, fileBytes, validBytes, records, readings, maxBoot, ackedRecords, ackedReadings, ackedEnd, problem: step.reason };
      }
      validBytes = step.offset + step.size;
      records++;
      readings += step.meta.readings;
      maxBoot = Math.max(maxBoot, step.meta.boot);
      if (validBytes <= ackOffset) {
        ackedRecords++;
        ackedReadings += step.meta.readings;
        ackedEnd = validBytes;
      }
    }
    return { fileBytes, validBytes, records, readings, maxBoot, ackedRecords, ackedReadings, ackedEnd };
  } finally {
    await fh.close();
  }
}
