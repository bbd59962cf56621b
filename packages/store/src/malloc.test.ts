import { describe, expect, it } from 'vitest';
import { BerthError } from '@berth/oci';
import { retainFreedMemory } from './index.js';

const glibc = (process.report?.getReport() as { header?: { glibcVersionRuntime?: string } } | undefined)?.header?.glibcVersionRuntime;

describe('retainFreedMemory', () => {
  it.skipIf(!glibc)('sets the trim threshold and top pad through glibc mallopt', () => {
    expect(retainFreedMemory()).toBe(true);
    expect(retainFreedMemory({ trimThresholdBytes: 128 * 1024 * 1024, topPadBytes: 0 })).toBe(true);
  });

  it('refuses sizes mallopt cannot take, with a BerthError naming the option', () => {
    for (const bad of [-1, 1.5, 2 ** 31, Number.NaN]) {
      expect(() => retainFreedMemory({ topPadBytes: bad })).toThrow(BerthError);
    }
    expect(() => retainFreedMemory({ trimThresholdBytes: -5 })).toThrow(/retain freed memory: trimThresholdBytes must be a whole number/);
  });
});
