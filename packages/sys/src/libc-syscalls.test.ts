import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { isBerthError } from '@berth/oci';
import { LibcSyscalls } from './libc-syscalls.js';
import { AF_UNIX, FD_CLOEXEC, SOCK_CLOEXEC, SOCK_STREAM, F_GETFD, F_SETFD, O_CLOEXEC, O_RDONLY, O_RDWR, O_NOCTTY, TIOCGPTN, TIOCGWINSZ, TIOCSPTLCK, TIOCSWINSZ } from './syscalls.js';

const sys = new LibcSyscalls();
const dir = mkdtempSync(join(tmpdir(), 'berth-libc-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('LibcSyscalls', () => {
  it('reports a failed call as ESYSCALL with the errno name and the path', () => {
    let caught: unknown;
    try {
      sys.chdir(join(dir, 'missing'));
    } catch (err) {
      caught = err;
    }
    expect(isBerthError(caught, 'ESYSCALL')).toBe(true);
    const e = caught as Error & { details: Record<string, unknown> };
    expect(e.message).toBe(`chdir ${join(dir, 'missing')}: ENOENT`);
    expect(e.details).toMatchObject({ syscall: 'chdir', errno: 'ENOENT' });
  });

  it('labels calls without a path by the syscall name only (crun style)', () => {
    expect(() => sys.pivotRoot(dir, join(dir, 'nope'))).toThrow(/^pivot_root: E[A-Z]+$/);
    expect(() => sys.close(987654)).toThrow('close: EBADF');
  });

  it('pipe2, write, read and fcntl work on real fds', () => {
    const [r, w] = sys.pipe2(O_CLOEXEC);
    expect(sys.fcntl(r, F_GETFD, 0) & FD_CLOEXEC).toBe(FD_CLOEXEC);
    sys.fcntl(r, F_SETFD, 0);
    expect(sys.fcntl(r, F_GETFD, 0) & FD_CLOEXEC).toBe(0);
    expect(sys.write(w, 'hello')).toBe(5);
    const buf = new Uint8Array(16);
    expect(sys.read(r, buf)).toBe(5);
    expect(Buffer.from(buf.subarray(0, 5)).toString()).toBe('hello');
    expect(sys.listFds()).toContain(r);
    sys.closeRange(w, w, 0);
    expect(() => sys.fcntl(w, F_GETFD, 0)).toThrow('fcntl: EBADF');
    sys.close(r);
  });

  it('getcwd reads the kernel cwd', () => {
    expect(sys.getcwd()).toBe(process.cwd());
  });

  it('ioctl passes buffers by pointer, in and out (window size round trip on a pty)', () => {
    const master = sys.open('/dev/ptmx', O_RDWR | O_NOCTTY | O_CLOEXEC);
    try {
      sys.ioctl(master, TIOCSPTLCK, new Uint8Array(4));
      const n = new Uint8Array(4);
      sys.ioctl(master, TIOCGPTN, n);
      expect(sys.stat(`/dev/pts/${Buffer.from(n).readUInt32LE(0)}`).kind).toBe('char');
      const ws = Buffer.alloc(8);
      ws.writeUInt16LE(33, 0);
      ws.writeUInt16LE(77, 2);
      sys.ioctl(master, TIOCSWINSZ, ws);
      const out = new Uint8Array(8);
      sys.ioctl(master, TIOCGWINSZ, out);
      expect([...out.subarray(0, 4)]).toEqual([33, 0, 77, 0]);
    } finally {
      sys.close(master);
    }
  });

  it('pidfd_open + pidfd_getfd duplicate an fd of a process', () => {
    const file = join(dir, 'f');
    writeFileSync(file, 'x');
    const fd = sys.open(file, O_RDONLY | O_CLOEXEC);
    const pidfd = sys.pidfdOpen(process.pid, 0);
    const dup = sys.pidfdGetfd(pidfd, fd, 0);
    expect(dup).not.toBe(fd);
    expect(sys.readlink(`/proc/self/fd/${dup}`)).toBe(file);
    for (const f of [dup, pidfd, fd]) sys.close(f);
  });

  it('AF_UNIX sockets pass fds with SCM_RIGHTS (sendFds / recvFds), received close-on-exec', () => {
    const path = join(dir, 'fds.sock');
    const server = sys.socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    const client = sys.socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    const [r, w] = sys.pipe2(O_CLOEXEC);
    try {
      sys.bindUnix(server, path);
      sys.listen(server, 1);
      sys.connectUnix(client, path);
      const conn = sys.accept(server, SOCK_CLOEXEC);
      expect(sys.sendFds(client, '/dev/ptmx', [w, r])).toBe(9);
      const buf = new Uint8Array(64);
      const got = sys.recvFds(conn, buf, 4);
      expect(Buffer.from(buf.subarray(0, got.bytes)).toString()).toBe('/dev/ptmx');
      expect(got.fds).toHaveLength(2);
      const [w2, r2] = got.fds as [number, number];
      expect(sys.fcntl(w2, F_GETFD, 0) & FD_CLOEXEC).toBe(FD_CLOEXEC);
      // The received write end writes into the same pipe.
      sys.write(w2, 'via fd');
      const out = new Uint8Array(16);
      expect(Buffer.from(out.subarray(0, sys.read(r2, out))).toString()).toBe('via fd');
      // No fds: plain bytes; the peer's close reads as EOF.
      sys.sendFds(client, 'x', []);
      expect(sys.recvFds(conn, buf, 1)).toEqual({ bytes: 1, fds: [] });
      sys.close(client);
      expect(sys.recvFds(conn, buf, 1)).toEqual({ bytes: 0, fds: [] });
      for (const f of [w2, r2, conn]) sys.close(f);
    } finally {
      for (const f of [server, r, w]) sys.close(f);
    }
    const lone = sys.socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    expect(() => sys.connectUnix(lone, join(dir, 'nope.sock'))).toThrow(`connect ${join(dir, 'nope.sock')}: ENOENT`);
    sys.close(lone);
  });

  it('stat and lstat describe kinds; mknod/symlink/mkdir create them', () => {
    sys.mkdir(join(dir, 'd'), 0o755);
    sys.symlink('d', join(dir, 'l'));
    expect(sys.lstat(join(dir, 'l')).kind).toBe('symlink');
    expect(sys.stat(join(dir, 'l')).kind).toBe('dir');
    expect(sys.readlink(join(dir, 'l'))).toBe('d');
    expect(() => sys.mkdir(join(dir, 'd'), 0o755)).toThrow(`mkdir ${join(dir, 'd')}: EEXIST`);
  });
});
