/**
 * The system calls the security steps make. `Syscalls` (syscalls.ts)
 * carries the same methods in its security section, so every Syscalls
 * implementation is a SecuritySyscalls; the runtime's `applyProcessSecurity()` asks only for
 * this subset. Same contract as Syscalls: synchronous, failures throw
 * BerthError 'ESYSCALL' `<syscall>: <ERRNO>`.
 */
export interface SecuritySyscalls {
  /** prctl(option, arg2, arg3, arg4, arg5) with integer arguments; returns the result. */
  prctl(option: number, arg2?: number, arg3?: number, arg4?: number, arg5?: number): number;
  /** capget(2), version 3, calling thread: the three sets as 64-bit masks. */
  capget(): CapabilityState;
  /** capset(2), version 3, calling thread. */
  capset(state: CapabilityState): void;
  /** getrlimit(2); RLIM_INFINITY is 2^64-1. */
  getrlimit(resource: number): RlimitValue;
  /** setrlimit(2); RLIM_INFINITY is 2^64-1. */
  setrlimit(resource: number, limit: RlimitValue): void;
  /** setgroups(2) (glibc applies it to every thread of the process). */
  setgroups(gids: readonly number[]): void;
  /** setresgid(2) (glibc: every thread). */
  setresgid(rgid: number, egid: number, sgid: number): void;
  /** setresuid(2) (glibc: every thread). */
  setresuid(ruid: number, euid: number, suid: number): void;
  /**
   * prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &sock_fprog) for the calling
   * thread: `program` is struct sock_filter[] (8 bytes per instruction).
   */
  seccompSetFilter(program: Uint8Array): void;
}

export interface CapabilityState {
  effective: bigint;
  permitted: bigint;
  inheritable: bigint;
}

export interface RlimitValue {
  soft: bigint;
  hard: bigint;
}

/** RLIM_INFINITY as the kernel's u64. */
export const RLIM_INFINITY = (1n << 64n) - 1n;

export const PR_SET_PDEATHSIG = 1;
export const PR_GET_KEEPCAPS = 7;
export const PR_SET_KEEPCAPS = 8;
export const PR_SET_SECCOMP = 22;
export const PR_CAPBSET_READ = 23;
export const PR_CAPBSET_DROP = 24;
export const PR_SET_NO_NEW_PRIVS = 38;
export const PR_GET_NO_NEW_PRIVS = 39;
export const PR_CAP_AMBIENT = 47;
export const PR_CAP_AMBIENT_IS_SET = 1;
export const PR_CAP_AMBIENT_RAISE = 2;
export const PR_CAP_AMBIENT_LOWER = 3;
export const PR_CAP_AMBIENT_CLEAR_ALL = 4;
export const SECCOMP_MODE_FILTER = 2;
/** _LINUX_CAPABILITY_VERSION_3: two 32-bit words per set. */
export const LINUX_CAPABILITY_VERSION_3 = 0x20080522;
