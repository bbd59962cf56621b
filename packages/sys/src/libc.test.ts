import { closeSync, mkdtempSync, openSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { isBerthError } from '@berth/oci';
import { cfunc, errnoOf, LIBC_NAMES, LOCK_EX, LOCK_SH, LOCK_UN, openFirst, SysError, syscallError, tryFlock } from './index.js';

const dir = mkdtempSync(join(tmpdir(), 'berth-sys-libc-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('the libc handle', () => {
  it('looks for glibc first, then musl', () => {
    expect(LIBC_NAMES[0]).toBe('libc.so.6');
    const musl = { x64: 'libc.musl-x86_64.so.1', arm64: 'libc.musl-aarch64.so.1' }[process.arch as 'x64' | 'arm64'];
    if (musl) expect(LIBC_NAMES[1]).toBe(musl);
    expect(LIBC_NAMES).toContain('libc.so');
  });

  it('falls back to the next name when one cannot be opened', () => {
    const lib = openFirst(['libberth-missing.so.9', 'libc.so.6'], 'libc');
    const getpid = lib.func('int getpid()') as () => number;
    expect(getpid()).toBe(process.pid);
  });

  it('names every library it tried when none loads (EUNSUPPORTED)', () => {
    let caught: unknown;
    try {
      openFirst(['libberth-a.so.1', 'libberth-b.so.2'], 'libc');
    } catch (err) {
      caught = err;
    }
    expect(isBerthError(caught, 'EUNSUPPORTED')).toBe(true);
    expect((caught as Error).message).toMatch(/^load libc: none of libberth-a\.so\.1, libberth-b\.so\.2 could be opened \(libberth-a\.so\.1: .*; libberth-b\.so\.2: .*\)$/);
  });

  it('declares a function once per prototype', () => {
    expect(cfunc('int getpid()')).toBe(cfunc('int getpid()'));
  });
});

describe('SysError', () => {
  it('carries the call, the errno name and the path, as properties and details', () => {
    const err = syscallError('mount', 1, '/x/proc');
    expect(err).toBeInstanceOf(SysError);
    expect(isBerthError(err, 'ESYSCALL')).toBe(true);
    expect(err.message).toBe('mount /x/proc: EPERM');
    expect([err.syscall, err.errno, err.path]).toEqual(['mount', 'EPERM', '/x/proc']);
    expect(err.details).toEqual({ syscall: 'mount', errno: 'EPERM', path: '/x/proc' });
    expect(errnoOf(err)).toBe('EPERM');
    expect(new SysError('pivot_root', 'EINVAL').message).toBe('pivot_root: EINVAL');
  });
});

describe('tryFlock', () => {
  it('takes a free lock, reports a held one as false, and throws SysError on a bad fd', () => {
    const file = join(dir, 'lock');
    writeFileSync(file, '');
    const a = openSync(file, 'r+');
    const b = openSync(file, 'r+');
    try {
      expect(tryFlock(a, LOCK_EX, file)).toBe(true);
      expect(tryFlock(b, LOCK_SH, file)).toBe(false);
      expect(tryFlock(a, LOCK_UN, file)).toBe(true);
      expect(tryFlock(b, LOCK_SH, file)).toBe(true);
    } finally {
      closeSync(a);
      closeSync(b);
    }
    let caught: unknown;
    try {
      tryFlock(987654, LOCK_EX, '/named/lock');
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(SysError);
    expect((caught as Error).message).toBe('flock /named/lock: EBADF');
  });
});
