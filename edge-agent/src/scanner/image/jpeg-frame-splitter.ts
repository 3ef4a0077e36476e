/** What the splitter threw away, by cause. */
export interface JpegSplitStats {
  frames: number;
  /** Frames longer than maxFrameBytes (a stream without EOI counts here): dropped. */
  oversized: number;
  /** Bytes outside any frame (before an SOI, or of a frame whose markers broke). */
  skippedBytes: number;
}

export interface JpegFrameSplitter {
  /** Feeds a chunk of the stream; returns the frames it completed, each a copy. */
  push(chunk: Uint8Array): Buffer[];
  stats(): JpegSplitStats;
}

type Phase = 'seek' | 'segments' | 'entropy';

/**
 * Concatenated JPEG frames (what `ffmpeg -f image2pipe -vcodec mjpeg -` writes) into single frames.
 * Not a search for FF D9: after SOI it walks the marker segments by their lengths (an EXIF
 * thumbnail inside APP1 has its own SOI/EOI) and only inside entropy-coded data looks for a
 * marker, where a data byte FF is always stuffed as FF 00 (ITU-T T.81 §B.1.1.5). Memory is
 * bounded: a frame may grow to maxFrameBytes, then it is dropped and the next SOI awaited.
 */
export function createJpegFrameSplitter(options: { readonly maxFrameBytes: number }): JpegFrameSplitter {
  const { maxFrameBytes } = options;
  const stats: JpegSplitStats = { frames: 0, oversized: 0, skippedBytes: 0 };
  let store = Buffer.alloc(Math.min(maxFrameBytes, 64 * 1024));
  let length = 0;
  let pos = 0;
  let phase: Phase = 'seek';

  function append(chunk: Uint8Array): void {
    if (length + chunk.length > store.length) {
      let capacity = store.length;
      while (capacity < length + chunk.length) capacity *= 2;
      const grown = Buffer.alloc(Math.min(capacity, maxFrameBytes + chunk.length));
      store.copy(grown, 0, 0, length);
      store = grown;
    }
    store.set(chunk, length);
    length += chunk.length;
  }

  /** Drops the first `count` bytes (the start of the next frame moves to the front). */
  function consume(count: number): void {
    store.copy(store, 0, count, length);
    length -= count;
    pos = 0;
  }

  /** Broken markers: skip this SOI's two bytes and seek the next frame. */
  function resync(): void {
    stats.skippedBytes += 2;
    consume(2);
    phase = 'seek';
  }

  function step(frames: Buffer[]): boolean {
    if (phase === 'seek') {
      const soi = store.subarray(0, length).indexOf(Buffer.from([0xff, 0xd8]));
      if (soi < 0) {
        // Keep a trailing FF: it may be the first half of an SOI.
        const keep = length > 0 && store[length - 1] === 0xff ? 1 : 0;
        stats.skippedBytes += length - keep;
        consume(length - keep);
        return false;
      }
      stats.skippedBytes += soi;
      consume(soi);
      pos = 2;
      phase = 'segments';
      return true;
    }
    if (phase === 'segments') {
      if (pos + 2 > length) return false;
      if (store[pos] !== 0xff) {
        resync();
        return true;
      }
      const marker = store[pos + 1]!;
      if (marker === 0xff) {
        pos += 1;
        return true;
      }
      if (marker === 0xd9) return finish(pos + 2, frames);
      if (marker === 0x01 || (marker >= 0xd0 && marker <= 0xd7)) {
        pos += 2;
        return true;
      }
      if (marker === 0xd8) {
        resync();
        return true;
      }
      if (pos + 4 > length) return false;
      const segment = store.readUInt16BE(pos + 2);
      if (segment < 2) {
        resync();
        return true;
      }
      pos += 2 + segment;
      if (marker === 0xda) phase = 'entropy';
      return true;
    }
    // Entropy-coded data: FF 00 is a data byte, FF D0-D7 a restart marker, FF FF fill.
    for (;;) {
      if (pos >= length) return false;
      const ff = store.indexOf(0xff, pos);
      if (ff < 0 || ff >= length) {
        pos = length;
        return false;
      }
      if (ff + 1 >= length) {
        pos = ff;
        return false;
      }
      const next = store[ff + 1]!;
      if (next === 0x00 || (next >= 0xd0 && next <= 0xd7) || next === 0xff) {
        pos = ff + (next === 0xff ? 1 : 2);
        continue;
      }
      if (next === 0xd9) return finish(ff + 2, frames);
      // Another marker (DHT, SOS of a progressive JPEG): back to walking segments.
      pos = ff;
      phase = 'segments';
      return true;
    }
  }

  function finish(end: number, frames: Buffer[]): boolean {
    frames.push(Buffer.from(store.subarray(0, end)));
    stats.frames++;
    consume(end);
    phase = 'seek';
    return true;
  }

  return {
    push(chunk) {
      const frames: Buffer[] = [];
      let offset = 0;
      // Fed in slices, so that a frame over the bound is caught before the store grows past it.
      while (offset < chunk.length) {
        const slice = chunk.subarray(offset, offset + 64 * 1024);
        offset += slice.length;
        append(slice);
        while (step(frames));
        if (phase !== 'seek' && length > maxFrameBytes) {
          stats.oversized++;
          stats.skippedBytes += length;
          consume(length);
          phase = 'seek';
        }
      }
      return frames;
    },
    stats: () => ({ ...stats }),
  };
}
