import koffi from 'koffi';
import type { LibraryHandle } from 'koffi';
import { BerthError } from '@berth/oci';
import { syscallError } from '../sys/errors.js';
import { LINUX_CAPABILITY_VERSION_3, PR_SET_SECCOMP, SECCOMP_MODE_FILTER } from './syscalls.js';
import type { CapabilityState, RlimitValue, SecuritySyscalls } from './syscalls.js';

/** A koffi-declared C function (koffi types its functions loosely). */
// `any`: koffi functions take and return untyped values.
type CFunc = (...args: any[]) => any;

let libc: LibraryHandle | undefined;
const funcs = new Map<string, CFunc>();

function fn(prototype: string): CFunc {
  let f = funcs.get(prototype);
  if (f === undefined) {
    libc ??= koffi.load('libc.so.6');
    f = libc.func(prototype) as CFunc;
    funcs.set(prototype, f);
  }
  return f;
}

/** Declares struct sock_fprog once per process (koffi type names are global). */
function declareSockFprog(): void {
  try {
    koffi.type('berth_sock_fprog');
  } catch {
    koffi.struct('berth_sock_fprog', { len: 'uint16_t', filter: 'void *' });
  }
}

/** Throws the errno of the last koffi call (`capset: EPERM`) when `result` is negative. */
function check(result: number, syscall: string): number {
  if (result < 0) throw syscallError(syscall, koffi.errno());
  return result;
}

/**
 * The security system calls through glibc and koffi. LibcSyscalls (src/sys)
 * delegates its security section here. Credentials go through glibc's wrappers,
 * which apply them to every thread of the (multi-threaded) Node process;
 * capabilities, prctl state and seccomp are per thread, which is what execve
 * keeps since it runs on the same (main) thread.
 */
export class LibcSecuritySyscalls implements SecuritySyscalls {
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
    check(fn('int setgroups(size_t size, const void *list)')(list.length, list.length > 0 ? list : null) as number, 'setgroups');
  }

  setresgid(rgid: number, egid: number, sgid: number): void {
    check(fn('int setresgid(uint32_t rgid, uint32_t egid, uint32_t sgid)')(rgid, egid, sgid) as number, 'setresgid');
  }

  setresuid(ruid: number, euid: number, suid: number): void {
    check(fn('int setresuid(uint32_t ruid, uint32_t euid, uint32_t suid)')(ruid, euid, suid) as number, 'setresuid');
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
