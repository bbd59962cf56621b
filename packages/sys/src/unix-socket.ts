import { syscallError } from './errors.js';
import { addressOf, lastErrno, lazyFunc } from './libc.js';
import { AF_UNIX, MSG_CMSG_CLOEXEC, SCM_RIGHTS, SOL_SOCKET } from './syscalls.js';

/*
 * AF_UNIX sockets and fd passing (SCM_RIGHTS) for LibcSyscalls: berth-runtime sends a
 * container's pty master to an engine's console socket as runc does. The structs
 * (sockaddr_un, msghdr, iovec, cmsghdr) are laid out here for 64-bit Linux (glibc and musl
 * agree: musl's int-plus-padding fields read the same little-endian).
 */

const connectFn = /* @__PURE__ */ lazyFunc('int connect(int fd, const void *addr, unsigned int len)');
const bindFn = /* @__PURE__ */ lazyFunc('int bind(int fd, const void *addr, unsigned int len)');
const listenFn = /* @__PURE__ */ lazyFunc('int listen(int fd, int backlog)');
const acceptFn = /* @__PURE__ */ lazyFunc('int accept4(int fd, void *addr, void *len, int flags)');
const sendmsgFn = /* @__PURE__ */ lazyFunc('long sendmsg(int fd, const void *msg, int flags)');
const recvmsgFn = /* @__PURE__ */ lazyFunc('long recvmsg(int fd, void *msg, int flags)');

const SUN_PATH = 108;
const CMSG_HEADER = 16;

function check(result: number | bigint, syscall: string, path?: string): number {
  const r = Number(result);
  if (r < 0) throw syscallError(syscall, lastErrno(), path);
  return r;
}

/** struct sockaddr_un for `path` (ENAMETOOLONG past 107 bytes). */
function sockaddrUn(path: string, syscall: string): Buffer {
  const p = Buffer.from(path);
  if (p.length >= SUN_PATH) throw syscallError(syscall, 'ENAMETOOLONG', path);
  const addr = Buffer.alloc(2 + p.length + 1);
  addr.writeUInt16LE(AF_UNIX, 0);
  p.copy(addr, 2);
  return addr;
}

export function connectUnix(fd: number, path: string): void {
  const addr = sockaddrUn(path, 'connect');
  check(connectFn()(fd, addr, addr.length), 'connect', path);
}

export function bindUnix(fd: number, path: string): void {
  const addr = sockaddrUn(path, 'bind');
  check(bindFn()(fd, addr, addr.length), 'bind', path);
}

export function listen(fd: number, backlog: number): void {
  check(listenFn()(fd, backlog), 'listen');
}

export function accept(fd: number, flags: number): number {
  return check(acceptFn()(fd, null, null, flags), 'accept4');
}

/** struct msghdr with one iovec over `data` and `control` (which the caller keeps alive for the call). */
function msghdr(iov: Buffer, data: Uint8Array, control: Buffer | undefined): Buffer {
  iov.writeBigUInt64LE(addressOf(data), 0);
  iov.writeBigUInt64LE(BigInt(data.length), 8);
  const msg = Buffer.alloc(56);
  msg.writeBigUInt64LE(addressOf(iov), 16); // msg_iov
  msg.writeBigUInt64LE(1n, 24); // msg_iovlen
  if (control !== undefined) {
    msg.writeBigUInt64LE(addressOf(control), 32); // msg_control
    msg.writeBigUInt64LE(BigInt(control.length), 40); // msg_controllen
  }
  return msg;
}

const align8 = (n: number): number => (n + 7) & ~7;

export function sendFds(fd: number, data: Uint8Array | string, fds: readonly number[]): number {
  const bytes = typeof data === 'string' ? Buffer.from(data) : data;
  if (bytes.length === 0) throw syscallError('sendmsg', 'EINVAL');
  let control: Buffer | undefined;
  if (fds.length > 0) {
    control = Buffer.alloc(CMSG_HEADER + align8(4 * fds.length));
    control.writeBigUInt64LE(BigInt(CMSG_HEADER + 4 * fds.length), 0); // cmsg_len
    control.writeInt32LE(SOL_SOCKET, 8);
    control.writeInt32LE(SCM_RIGHTS, 12);
    fds.forEach((f, i) => control?.writeInt32LE(f, CMSG_HEADER + 4 * i));
  }
  const iov = Buffer.alloc(16);
  const msg = msghdr(iov, bytes, control);
  return check(sendmsgFn()(fd, msg, 0), 'sendmsg');
}

export function recvFds(fd: number, buffer: Uint8Array, maxFds: number): { bytes: number; fds: number[] } {
  const control = Buffer.alloc(CMSG_HEADER + align8(4 * Math.max(1, maxFds)));
  const iov = Buffer.alloc(16);
  const msg = msghdr(iov, buffer, control);
  const n = check(recvmsgFn()(fd, msg, MSG_CMSG_CLOEXEC), 'recvmsg');
  const fds: number[] = [];
  const controlLen = Number(msg.readBigUInt64LE(40));
  for (let off = 0; off + CMSG_HEADER <= controlLen; ) {
    const len = Number(control.readBigUInt64LE(off));
    if (len < CMSG_HEADER) break;
    if (control.readInt32LE(off + 8) === SOL_SOCKET && control.readInt32LE(off + 12) === SCM_RIGHTS) {
      for (let p = off + CMSG_HEADER; p + 4 <= off + len; p += 4) fds.push(control.readInt32LE(p));
    }
    off += align8(len);
  }
  return { bytes: n, fds };
}
