import { lazyFunc } from './libc.js';

/**
 * glibc's malloc controls, for @berth/store's heap tuning. Each is declared on
 * its first call; `mallocControls()` throws when libc or `mallopt` is missing
 * (musl has no mallopt), and the caller then skips the tuning.
 */
export interface MallocControls {
  /** mallopt(3): 1 on success, 0 on error. */
  mallopt(param: number, value: number): number;
  /** malloc(3): the address, 0 when it failed. */
  malloc(size: number): bigint;
  free(pointer: bigint): void;
  /** madvise(2) on an address range: 0 on success. */
  madvise(address: bigint, length: bigint, advice: number): number;
}

const c = {
  mallopt: /* @__PURE__ */ lazyFunc('int mallopt(int param, int value)'),
  malloc: /* @__PURE__ */ lazyFunc('uintptr_t malloc(size_t size)'),
  free: /* @__PURE__ */ lazyFunc('void free(uintptr_t p)'),
  madvise: /* @__PURE__ */ lazyFunc('int madvise(uintptr_t addr, size_t length, int advice)'),
};

export const M_TRIM_THRESHOLD = -1;
export const M_TOP_PAD = -2;
export const M_MMAP_MAX = -4;
export const MADV_HUGEPAGE = 14;

let controls: MallocControls | undefined;

/** The four calls, all declared now (so a libc without them fails here, not half-way). */
export function mallocControls(): MallocControls {
  if (controls) return controls;
  const mallopt = c.mallopt();
  const malloc = c.malloc();
  const free = c.free();
  const madvise = c.madvise();
  controls = {
    mallopt: (param, value) => mallopt(param, value) as number,
    malloc: (size) => BigInt(malloc(size) as number | bigint),
    free: (pointer) => void free(pointer),
    madvise: (address, length, advice) => madvise(address, length, advice) as number,
  };
  return controls;
}
