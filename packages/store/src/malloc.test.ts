import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { BerthError } from '@berth/oci';
import { tuneHeapForStreaming } from './index.js';

const glibc = (process.report?.getReport() as { header?: { glibcVersionRuntime?: string } } | undefined)?.header?.glibcVersionRuntime;
let thp = 'unknown';
try {
  thp = readFileSync('/sys/kernel/mm/transparent_hugepage/enabled', 'utf8');
} catch {
  // no THP on this kernel
}
const thpUsable = /\[(always|madvise)\]/.test(thp);

/** Bytes of this process's heap mappings that carry the `hg` (MADV_HUGEPAGE) flag. */
function hugePageAdvisedHeap(): number {
  let total = 0;
  let size = 0;
  let heap = false;
  for (const line of readFileSync('/proc/self/smaps', 'utf8').split('\n')) {
    const range = /^([0-9a-f]+)-([0-9a-f]+) /.exec(line);
    if (range) {
      size = Number.parseInt(range[2] as string, 16) - Number.parseInt(range[1] as string, 16);
      heap = line.trimEnd().endsWith('[heap]');
    } else if (heap && line.startsWith('VmFlags:') && / hg( |$)/.test(line)) {
      total += size;
    }
  }
  return total;
}

describe('tuneHeapForStreaming', () => {
  it.skipIf(!glibc)('sets the trim threshold and top pad and advises a heap range for huge pages, once', () => {
    const before = hugePageAdvisedHeap();
    const first = tuneHeapForStreaming();
    expect(first.tuned).toBe(true);
    if (thpUsable) {
      expect(first.hugePageBytes).toBeGreaterThanOrEqual(120 * 1024 * 1024);
      expect(first.hugePageBytes % (2 * 1024 * 1024)).toBe(0);
      // The kernel sees the advice on the heap (the range stays in the heap after free()).
      expect(hugePageAdvisedHeap() - before).toBeGreaterThanOrEqual(first.hugePageBytes);
    }
    // Memory still works across the range.
    const big = Buffer.alloc(8 * 1024 * 1024, 7);
    expect(big.readUInt8(big.length - 1)).toBe(7);
    // A second call keeps the reserve it has; settings are applied again.
    const again = tuneHeapForStreaming({ hugePageBytes: 0 });
    expect(again).toEqual({ tuned: true, hugePageBytes: first.hugePageBytes });
  });

  it('refuses sizes mallopt cannot take, with a BerthError naming the option', () => {
    for (const bad of [-1, 1.5, 2 ** 31, Number.NaN]) {
      expect(() => tuneHeapForStreaming({ topPadBytes: bad })).toThrow(BerthError);
    }
    expect(() => tuneHeapForStreaming({ hugePageBytes: -5 })).toThrow(/tune heap: hugePageBytes must be a whole number/);
  });
});
