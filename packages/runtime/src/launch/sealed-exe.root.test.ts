/**
 * The sealed executable the inits run from (CVE-2019-5736), against the real kernel: a
 * small binary (ls) copied into a temp dir stands in for node. The end-to-end attack through a
 * container is in e2e/exe.test.ts.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { errnoOf } from '@berth/sys';
import { LibcSyscalls } from '@berth/sys';
import { F_GET_SEALS, F_SEAL_GROW, F_SEAL_SEAL, F_SEAL_SHRINK, F_SEAL_WRITE, O_CLOEXEC, O_RDWR, O_WRONLY } from '@berth/sys';
import { sealExecutable, sealedExecutable } from './sealed-exe.js';

const sys = new LibcSyscalls();
const isRoot = process.getuid?.() === 0;

/** Tries to open `p` for writing; the errno name, or 'opened' (then writes one byte: 'written' or its errno). */
function tryWrite(p: string): string {
  let fd: number;
  try {
    fd = sys.open(p, O_RDWR | O_CLOEXEC);
  } catch (err) {
    return errnoOf(err) ?? String(err);
  }
  try {
    sys.write(fd, 'x');
    return 'written';
  } catch (err) {
    return `opened, write ${errnoOf(err) ?? String(err)}`;
  } finally {
    sys.close(fd);
  }
}

describe.skipIf(!isRoot)('the sealed init executable', () => {
  let dir: string;
  let bin: string;
  let original: Buffer;

  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-sealed-exe-'));
    bin = path.join(dir, 'prog');
    fs.copyFileSync('/bin/ls', bin);
    original = fs.readFileSync(bin);
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('is the binary through a read-only overlay: it runs, and opening it for writing fails with EROFS', () => {
    const s = sealExecutable(sys, bin);
    try {
      expect(s.how).toBe('overlay');
      expect(s.fd).toBeGreaterThanOrEqual(16);
      expect(s.path).toBe(`/proc/self/fd/${s.fd}`);
      // The child runs it, and does not hold the fd (close-on-exec): its open fds are its own.
      const ls = spawnSync(s.path, ['-l', '/proc/self/fd/'], { encoding: 'utf8' });
      expect(ls.status).toBe(0);
      expect(fs.readlinkSync(s.path)).toBe('/prog');
      expect(ls.stdout).not.toContain('/prog');
      expect(tryWrite(s.path)).toBe('EROFS');
      expect(fs.readFileSync(bin).equals(original)).toBe(true);
      // The file itself is untouched and writable as before: only the path to it is read-only.
      const fd = sys.open(bin, O_WRONLY | O_CLOEXEC);
      sys.close(fd);
    } finally {
      sys.close(s.fd);
    }
  });

  it('falls back to a sealed memfd copy: it runs, and nothing can write it', () => {
    const s = sealExecutable(sys, bin, { memfdOnly: true });
    try {
      expect(s.how).toBe('memfd');
      expect(fs.readlinkSync(s.path)).toMatch(/^\/memfd:berth-init/);
      const seals = F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE;
      expect(sys.fcntl(s.fd, F_GET_SEALS, 0) & seals).toBe(seals);
      expect(fs.readFileSync(s.path).equals(original)).toBe(true);
      const ls = spawnSync(s.path, ['-l', '/proc/self/fd/'], { encoding: 'utf8' });
      expect(ls.status).toBe(0);
      expect(ls.stdout).not.toContain('memfd:');
      expect(tryWrite(s.path)).toBe('opened, write EPERM');
    } finally {
      sys.close(s.fd);
    }
  });

  it('is made once per process and binary', () => {
    const a = sealedExecutable(sys, bin);
    expect(sealedExecutable(sys, bin)).toBe(a);
    expect(a.how).toBe('overlay');
  });
});
