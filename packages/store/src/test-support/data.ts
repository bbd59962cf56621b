import { createHash } from 'node:crypto';

/** Deterministic pseudo-random bytes: the same (seed, size) gives the same data in every process. */
export function makeData(seed: string, size: number): Buffer {
  const out = Buffer.alloc(size);
  let pos = 0;
  for (let i = 0; pos < size; i++) {
    const block = createHash('sha256').update(`${seed}:${i}`).digest();
    pos += block.copy(out, pos, 0, Math.min(block.length, size - pos));
  }
  return out;
}
