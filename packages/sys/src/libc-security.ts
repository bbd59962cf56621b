import { BerthError } from '@berth/oci';
import { syscallError } from './errors.js';
import { cfunc, lastErrno, structType } from './libc.js';
import { LINUX_CAPABILITY_VERSION_3, PR_SET_SECCOMP, SECCOMP_MODE_FILTER } from './security.js';
import type { CapabilityState, RlimitValue, SecuritySyscalls } from './security.js';

const fn = cfunc;

/** Raw system call numbers of the per-thread credential calls (glibc's wrappers broadcast to every thread). */
const CREDENTIAL_SYSCALLS: Record<string, { setgroups: number; setresgid: number; setresuid: number }> = {
  x64: { setgroups: 116, setresgid: 119, setresuid: 117 },
  arm64: { setgroups: 159, setresgid: 149, setresuid: 147 },
};

const PROTOTYPES = [
  'int prctl(int option, unsigned long arg2, unsigned long arg3, unsigned long arg4, unsigned long arg5)',
  'int capget(void *header, _Out_ void *data)',
  'int capset(void *header, const void *data)',
  'int getrlimit(int resource, _Out_ void *rlim)',
  'int setrlimit(int resource, const void *rlim)',
  'long syscall(long number, ...)',
] as const;

export interface LibcSecurityOptions {
  /**
   * 'process' (default): setgroups/setresgid/setresuid through glibc, which applies
   * them to every thread of the process by signalling each one (tens of ms in a
   * loaded multi-threaded Node process). 'thread': the raw system calls, which change
   * only the calling thread: right for a process that execve()s next from that thread
   * (the container's init: execve keeps only the calling thread, with its credentials).
   */
  credentials?: 'process' | 'thread';
}

/** Declares struct sock_fprog once per process (koffi type names are global). */
function declareSockFprog(): void {
  structType('berth_sock_fprog', { len: 'uint16_t', filter: 'void *' });
}

/** Throws the errno of the last C call (`capset: EPERM`) when `result` is negative. */
function check(result: number, syscall: string): number {
  if (result < 0) throw syscallError(syscall, lastErrno());
  return result;
}

/**
 * The security system calls through libc (libc.ts). LibcSyscalls (libc-syscalls.ts)
 * delegates its security section here. Credentials go through glibc's wrappers,
 * which apply them to every thread of the (multi-threaded) Node process, or
 * with `credentials: 'thread'` (the init) through the raw per-thread system
 * calls; capabilities, prctl state and seccomp are per thread, which is what
 * execve keeps since it runs on the same (main) thread.
 */
export class LibcSecuritySyscalls implements SecuritySyscalls {
  private readonly threadCredentials: boolean;

  constructor(options: LibcSecurityOptions = {}) {
    this.threadCredentials = options.credentials === 'thread' && CREDENTIAL_SYSCALLS[process.arch] !== undefined;
  }

  /** Declares every function now (see LibcSyscalls.prepare). */
  prepare(): void {
    for (const p of PROTOTYPES) fn(p);
    declareSockFprog();
  }

  /** A credential call: the raw per-thread system call, or glibc's process-wide wrapper. */
  private credential(name: 'setgroups' | 'setresgid' | 'setresuid', ...args: Array<[string, unknown]>): void {
    const nr = CREDENTIAL_SYSCALLS[process.arch]?.[name];
    if (this.threadCredentials && nr !== undefined) {
      check(Number(fn('long syscall(long number, ...)')(nr, ...args.flat())), name);
      return;
    }
    const proto =
      name === 'setgroups'
        ? 'int setgroups(size_t size, const void *list)'
        : `int ${name}(uint32_t a, uint32_t b, uint32_t c)`;
    check(fn(proto)(...args.map((a) => a[1])) as number, name);
  }

  prctl(option: number, arg2 = 0, arg3 = 0, arg4 = 0, arg5 = 0): number {
    const f = fn('int prctl(int option, unsigned long arg2, unsigned long arg3, unsigned long arg4, unsigned long arg5)');
    return check(f(option, arg2, arg3, arg4, arg5) as number, 'prctl');
  }

  capget(): CapabilityState {
    const header = new Uint32Array([LINUX_CAPABILITY_VERSION_3, 0]);
    const data = new Uint32Array(6);
    check(fn('int capget(void *header, _Out_ void *data)')(header, data) as number, 'capget');
    const word = (set: number): bigint => (BigInt(data[3 + set] ?? 0) << 32n) | BigInt(data[set] ?? 0);
    return { effective: word(0), permitted: word(1), inheritable: word(2) };
  }

  capset(state: CapabilityState): void {
    const header = new Uint32Array([LINUX_CAPABILITY_VERSION_3, 0]);
    const lo = (m: bigint): number => Number(m & 0xffffffffn);
    const hi = (m: bigint): number => Number((m >> 32n) & 0xffffffffn);
    // struct __user_cap_data_struct[2] { effective, permitted, inheritable }: word 0 then word 1.
    const data = new Uint32Array([
      lo(state.effective), lo(state.permitted), lo(state.inheritable),
      hi(state.effective), hi(state.permitted), hi(state.inheritable),
    ]);
    check(fn('int capset(void *header, const void *data)')(header, data) as number, 'capset');
  }

  getrlimit(resource: number): RlimitValue {
    const buf = new BigUint64Array(2);
    check(fn('int getrlimit(int resource, _Out_ void *rlim)')(resource, buf) as number, 'getrlimit');
    return { soft: buf[0] ?? 0n, hard: buf[1] ?? 0n };
  }

  setrlimit(resource: number, limit: RlimitValue): void {
    const buf = new BigUint64Array([limit.soft, limit.hard]);
    check(fn('int setrlimit(int resource, const void *rlim)')(resource, buf) as number, 'setrlimit');
  }

  setgroups(gids: readonly number[]): void {
    const list = new Uint32Array(gids);
    this.credential('setgroups', ['size_t', list.length], ['void *', list.length > 0 ? list : null]);
  }

  setresgid(rgid: number, egid: number, sgid: number): void {
    this.credential('setresgid', ['uint32_t', rgid], ['uint32_t', egid], ['uint32_t', sgid]);
  }

  setresuid(ruid: number, euid: number, suid: number): void {
    this.credential('setresuid', ['uint32_t', ruid], ['uint32_t', euid], ['uint32_t', suid]);
  }

  seccompSetFilter(program: Uint8Array): void {
    if (program.length === 0 || program.length % 8 !== 0 || program.length / 8 > 0xffff) {
      throw new BerthError('EINVAL_ARGUMENT', `seccomp: a filter program of ${program.length} bytes is not a list of 8-byte instructions`);
    }
    declareSockFprog();
    const f = fn('int prctl(int option, unsigned long arg2, berth_sock_fprog *arg3, unsigned long arg4, unsigned long arg5)');
    check(f(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, { len: program.length / 8, filter: program }, 0, 0) as number, 'prctl(PR_SET_SECCOMP)');
  }
}
