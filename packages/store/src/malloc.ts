import { BerthError } from '@berth/oci';
import { M_MMAP_MAX, M_TOP_PAD, M_TRIM_THRESHOLD, MADV_HUGEPAGE, mallocControls, type MallocControls } from '@berth/sys';

/**
 * glibc malloc tuning for a short-lived process that streams large blobs (`berth pull`).
 *
 * Every socket read gets a fresh 64 KiB buffer from malloc, and V8 frees those buffers only
 * when it collects them, tens of MiB at a time. With glibc's defaults the freed top of the heap
 * is given back to the kernel (trimmed) and the next reads fault the same pages in again, 4 KiB
 * at a time: about 15 000 to 20 000 page faults for a 220 MiB pull (skopeo: 2 000), each one
 * expensive in a VM. Three settings:
 * - a high trim threshold (M_TRIM_THRESHOLD) keeps freed memory in the heap for the next buffers;
 * - a top pad (M_TOP_PAD) grows the heap in bigger steps;
 * - a huge-page reserve: the heap is grown once by `hugePageBytes` and that range is advised
 *   MADV_HUGEPAGE, then freed back into the heap (it stays, by the trim threshold). The buffers
 *   are carved from it, and the kernel faults it in 2 MiB at a time where transparent huge pages
 *   are enabled ("madvise" or "always"). What glibc's `glibc.malloc.hugetlb=1` tunable does, which
 *   can only be set in the environment before the process starts.
 * Measured on a 220 MiB pull: page faults 14 600 → 6 500, CPU 1.13 → 0.95 s; peak RSS grows by a
 * few MiB (huge-page granularity). The process keeps its freed memory until it exits.
 *
 * It changes process-wide settings, so it is for applications (`berth pull` calls it),
 * not something the store does by itself. Without glibc (no `mallopt`) it does nothing.
 */
export interface TuneHeapOptions {
  /** Freed memory at the top of the heap kept up to this many bytes (M_TRIM_THRESHOLD). Default 256 MiB. */
  trimThresholdBytes?: number;
  /** Extra bytes obtained whenever the heap grows (M_TOP_PAD). Default 64 MiB. */
  topPadBytes?: number;
  /** Size of the huge-page reserve (address space; pages become resident only when used). Default 128 MiB; 0: none. */
  hugePageBytes?: number;
}

/** What `tuneHeapForStreaming` did. */
export interface HeapTuning {
  /** glibc accepted the trim threshold and top pad. */
  tuned: boolean;
  /** Bytes of heap advised MADV_HUGEPAGE (0 if none: no glibc, THP not available, or not asked for). */
  hugePageBytes: number;
}

/** glibc's default M_MMAP_MAX (DEFAULT_MMAP_MAX), restored after the reserve is allocated. */
const DEFAULT_MMAP_MAX = 65536;
const HUGE_PAGE = 2n * 1024n * 1024n;

type Libc = MallocControls;
let libc: Libc | null | undefined;

function load(): Libc | null {
  if (libc !== undefined) return libc;
  try {
    libc = mallocControls();
  } catch {
    libc = null;
  }
  return libc;
}

const MAX_INT = 2 ** 31 - 1;

function checkBytes(name: string, v: number): number {
  if (!Number.isInteger(v) || v < 0 || v > MAX_INT) {
    throw new BerthError('EINVAL_ARGUMENT', `tune heap: ${name} must be a whole number of bytes from 0 to ${MAX_INT}, got ${v}`);
  }
  return v;
}

let reserved = 0;

/** Apply the tuning (the huge-page reserve once per process). */
export function tuneHeapForStreaming(opts: TuneHeapOptions = {}): HeapTuning {
  const trim = checkBytes('trimThresholdBytes', opts.trimThresholdBytes ?? 256 * 1024 * 1024);
  const pad = checkBytes('topPadBytes', opts.topPadBytes ?? 64 * 1024 * 1024);
  const huge = checkBytes('hugePageBytes', opts.hugePageBytes ?? 128 * 1024 * 1024);
  const c = load();
  if (!c) return { tuned: false, hugePageBytes: 0 };
  // mallopt returns 1 on success, 0 on error.
  const tuned = c.mallopt(M_TRIM_THRESHOLD, trim) === 1 && c.mallopt(M_TOP_PAD, pad) === 1;
  // The reserve must stay in the heap once freed: only while it and the pad are under the trim threshold.
  if (tuned && reserved === 0 && huge >= 2 * Number(HUGE_PAGE) && huge + pad <= trim) reserved = hugePageReserve(c, huge);
  return { tuned, hugePageBytes: reserved };
}

/** Grow the heap by `bytes` (from brk, not mmap), advise the range MADV_HUGEPAGE, free it into the heap. */
function hugePageReserve(c: Libc, bytes: number): number {
  // With mmap disabled for a moment, a large malloc comes from the heap top (untouched pages).
  if (c.mallopt(M_MMAP_MAX, 0) !== 1) return 0;
  let p: bigint;
  try {
    p = c.malloc(bytes);
  } finally {
    c.mallopt(M_MMAP_MAX, DEFAULT_MMAP_MAX);
  }
  if (p === 0n) return 0;
  try {
    const start = ((p + HUGE_PAGE - 1n) / HUGE_PAGE) * HUGE_PAGE;
    const len = ((p + BigInt(bytes) - start) / HUGE_PAGE) * HUGE_PAGE;
    if (len <= 0n) return 0;
    // EINVAL without transparent huge pages: then it is only a pre-grown heap.
    return c.madvise(start, len, MADV_HUGEPAGE) === 0 ? Number(len) : 0;
  } finally {
    c.free(p);
  }
}
