import { windowBuckets, type BucketWindow } from '../rules/bucket-window.js';

/*
 * The bytes both SQL engines store for a counter key's window (SQLite BLOB, PostgreSQL bytea):
 * one encoding, so a window reads alike whichever engine wrote it.
 */

/**
 * The window's (bucket, count) pairs, oldest first, as bytes: per pair the bucket's age (the
 * newest bucket's index minus its own, 0 to 60: one byte) and its count as an unsigned LEB128
 * varint (one byte up to 127, at most 8 for any count below 2^53). At most 61 pairs.
 */
export function encodeCounts(window: BucketWindow): Buffer {
  const bytes: number[] = [];
  for (const [bucket, count] of window.entries()) {
    bytes.push(window.head - bucket);
    // Arithmetic, not bit operators: those are 32-bit, and a count may be larger.
    let rest = count;
    while (rest >= 0x80) {
      bytes.push((rest % 0x80) + 0x80);
      rest = Math.floor(rest / 0x80);
    }
    bytes.push(rest);
  }
  return Buffer.from(bytes);
}

/** The pairs `encodeCounts` wrote; a pair that cannot be in a window of `head` is skipped. */
export function* decodeCounts(head: number, bytes: Uint8Array): Generator<[bucket: number, count: number]> {
  let i = 0;
  while (i < bytes.length) {
    const age = bytes[i++]!;
    let count = 0;
    let scale = 1;
    for (;;) {
      const byte = bytes[i++];
      if (byte === undefined) return;
      count += (byte % 0x80) * scale;
      if (byte < 0x80) break;
      scale *= 0x80;
    }
    if (age <= windowBuckets) yield [head - age, count];
  }
}
