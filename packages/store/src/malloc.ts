import koffi from 'koffi';
import { BerthError } from '@berth/oci';

/**
 * glibc malloc tuning for a short-lived process that streams large blobs (`berth pull`).
 *
 * Every socket read gets a fresh 64 KiB buffer from malloc, and V8 frees those buffers only
 * when it collects them, dozens of MiB at a time. With glibc's defaults the freed top of the
 * heap is given back to the kernel (trimmed) and the next reads fault the same pages in again:
 * about 20 000 page faults for a 220 MiB pull, a third of its system time. Keeping freed memory
 * in the heap (a high trim threshold) and growing it in bigger steps (top pad) lets the next
 * buffers reuse it. Peak RSS does not change (the pages were resident at the peak anyway); the
 * process just does not hand them back until it exits.
 *
 * It changes a process-wide setting, so it is for applications (the CLI calls it before a pull),
 * not something the store does by itself. On other C libraries (no glibc `mallopt`) it does
 * nothing and returns false.
 */
export interface RetainFreedMemoryOptions {
  /** Freed memory at the top of the heap kept up to this many bytes (M_TRIM_THRESHOLD). Default 256 MiB. */
  trimThresholdBytes?: number;
  /** Extra bytes obtained whenever the heap grows (M_TOP_PAD). Default 64 MiB. */
  topPadBytes?: number;
}

const M_TRIM_THRESHOLD = -1;
const M_TOP_PAD = -2;

type Mallopt = (param: number, value: number) => number;
let mallopt: Mallopt | null | undefined;

function load(): Mallopt | null {
  if (mallopt !== undefined) return mallopt;
  try {
    mallopt = koffi.load('libc.so.6').func('int mallopt(int param, int value)') as Mallopt;
  } catch {
    mallopt = null;
  }
  return mallopt;
}

const MAX_INT = 2 ** 31 - 1;

function checkBytes(name: string, v: number): number {
  if (!Number.isInteger(v) || v < 0 || v > MAX_INT) throw new BerthError('EINVAL_ARGUMENT', `retain freed memory: ${name} must be a whole number of bytes from 0 to ${MAX_INT}, got ${v}`);
  return v;
}

/** Apply the tuning; true if glibc accepted both settings. */
export function retainFreedMemory(opts: RetainFreedMemoryOptions = {}): boolean {
  const trim = checkBytes('trimThresholdBytes', opts.trimThresholdBytes ?? 256 * 1024 * 1024);
  const pad = checkBytes('topPadBytes', opts.topPadBytes ?? 64 * 1024 * 1024);
  const fn = load();
  if (!fn) return false;
  // mallopt returns 1 on success, 0 on error.
  return fn(M_TRIM_THRESHOLD, trim) === 1 && fn(M_TOP_PAD, pad) === 1;
}
