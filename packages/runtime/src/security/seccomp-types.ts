/**
 * A resolved seccomp profile: docker's JSON format after its conditions
 * (`includes`/`excludes` on capabilities, architectures, kernel version) have
 * been applied for one container. Plain JSON so it can travel in a ContainerSpec.
 */
export interface SeccompProfile {
  defaultAction: SeccompAction;
  /** errno returned by the default action when it is SCMP_ACT_ERRNO/TRACE (docker: 1 = EPERM). */
  defaultErrnoRet: number;
  /** libseccomp architecture names, native first (`SCMP_ARCH_X86_64`, `SCMP_ARCH_X86`, `SCMP_ARCH_X32`). */
  architectures: string[];
  syscalls: SeccompRule[];
}

export type SeccompAction =
  | 'SCMP_ACT_ALLOW'
  | 'SCMP_ACT_ERRNO'
  | 'SCMP_ACT_KILL'
  | 'SCMP_ACT_KILL_THREAD'
  | 'SCMP_ACT_KILL_PROCESS'
  | 'SCMP_ACT_TRAP'
  | 'SCMP_ACT_TRACE'
  | 'SCMP_ACT_LOG';

export type SeccompOperator =
  | 'SCMP_CMP_NE'
  | 'SCMP_CMP_LT'
  | 'SCMP_CMP_LE'
  | 'SCMP_CMP_EQ'
  | 'SCMP_CMP_GE'
  | 'SCMP_CMP_GT'
  | 'SCMP_CMP_MASKED_EQ';

export interface SeccompArg {
  /** Syscall argument index, 0..5. */
  index: number;
  /** Compared value; a decimal string when it does not fit a JS number exactly. */
  value: number | string;
  /** Second value (the expected result for SCMP_CMP_MASKED_EQ, whose mask is `value`). */
  valueTwo?: number | string;
  op: SeccompOperator;
}

export interface SeccompRule {
  names: string[];
  action: SeccompAction;
  /** errno for SCMP_ACT_ERRNO (default: the profile's defaultErrnoRet). */
  errnoRet?: number;
  /** Conditions; several with the same index are ORed (one rule each), different indexes ANDed. */
  args?: SeccompArg[];
}
