/**
 * Runs async operations one at a time, in the order given. The journal's file operations go
 * through one queue, so an append, a replay read, a drop and a segment deletion never interleave.
 */
export interface SerialQueue {
  run<T>(op: () => Promise<T>): Promise<T>;
  /** Operations queued or running. */
  readonly length: number;
}

export function createSerialQueue(): SerialQueue {
  let tail: Promise<unknown> = Promise.resolve();
  let length = 0;
  return {
    run<T>(op: () => Promise<T>): Promise<T> {
      length++;
      const result = tail.then(op);
      const settled = () => {
        length--;
      };
      tail = result.then(settled, settled);
      return result;
    },
    get length() {
      return length;
    },
  };
}
