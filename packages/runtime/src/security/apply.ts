import { readFileSync } from 'node:fs';
import { BerthError } from '@berth/oci';
import type { ContainerSpec } from '../spec/types.js';
import { CAP_LAST_KNOWN, capNames, capabilityMasks, fullMask } from './capabilities.js';
import type { CapabilityMasks } from './capabilities.js';
import { compileSeccomp } from './libseccomp.js';
import { applyRlimits } from './rlimits.js';
import {
  PR_CAPBSET_DROP,
  PR_CAP_AMBIENT,
  PR_CAP_AMBIENT_CLEAR_ALL,
  PR_CAP_AMBIENT_RAISE,
  PR_SET_KEEPCAPS,
  PR_SET_NO_NEW_PRIVS,
} from '@berth/sys';
import type { SecuritySyscalls } from '@berth/sys';

export interface ApplySecurityOptions {
  /**
   * The compiled filter for spec.seccomp (`compileSeccomp(spec.seccomp).program`),
   * e.g. compiled by the runtime in the parent so the init need not load
   * libseccomp. Compiled here when absent.
   */
  seccompProgram?: Uint8Array;
  /** Highest capability number the kernel knows (default: /proc/sys/kernel/cap_last_cap, else 40). */
  lastCap?: number;
}

/** What applyProcessSecurity did, for logs and tests. */
export interface AppliedSecurity {
  capabilities: CapabilityMasks;
  seccomp: 'none' | 'before-credentials' | 'last';
}

/**
 * The security steps the init runs right before execve, in this order (runc's):
 *
 * 1. rlimits (never raising a hard limit);
 * 2. no_new_privs, if requested;
 * 3. seccomp NOW if no_new_privs is NOT set: loading a filter without
 *    no_new_privs needs CAP_SYS_ADMIN, which the process still has here but not
 *    after step 6 (docker's default set lacks it). The docker profile allows
 *    every call of steps 4-6 and of the init's remaining steps (chdir,
 *    close_range, fcntl, rt_sigaction, rt_sigprocmask, execve);
 * 4. drop from the bounding set every capability not kept (PR_CAPBSET_DROP
 *    needs CAP_SETPCAP, so before the uid change);
 * 5. setgroups, setresgid, setresuid, with PR_SET_KEEPCAPS around a change to a
 *    non-zero uid so the permitted set survives it;
 * 6. capset (effective, permitted, inheritable), then the ambient set cleared
 *    and the requested ambient capabilities raised;
 * 7. seccomp LAST if no_new_privs is set (no privilege needed, and as few
 *    syscalls as possible run after it).
 *
 * Capabilities the kernel does not know (above cap_last_cap) are left out. A
 * privileged container gets every capability the runtime itself has; a
 * non-privileged one that asks for a capability the runtime lacks fails.
 */
export function applyProcessSecurity(
  sys: SecuritySyscalls,
  spec: Pick<ContainerSpec, 'process' | 'seccomp' | 'privileged'>,
  options: ApplySecurityOptions = {},
): AppliedSecurity {
  const proc = spec.process;
  // Everything that can be refused is checked before anything changes: the
  // profile compiles, the capabilities are available.
  const program = spec.seccomp ? (options.seccompProgram ?? compileSeccomp(spec.seccomp).program) : undefined;
  const lastCap = options.lastCap ?? readLastCap();
  const known = fullMask(lastCap);

  const wanted = capabilityMasks(proc.capabilities);
  const available = sys.capget().permitted & known;
  const masks: CapabilityMasks = {
    bounding: wanted.bounding & known,
    effective: wanted.effective & known,
    permitted: wanted.permitted & known,
    inheritable: wanted.inheritable & known,
    ambient: wanted.ambient & known,
  };
  const missing = (masks.bounding | masks.permitted | masks.effective) & ~available;
  if (missing !== 0n) {
    if (!spec.privileged) {
      throw new BerthError('ERUNTIME', `apply capabilities: ${capNames(missing).join(', ')} not available to the runtime`, {
        details: { missing: capNames(missing) },
      });
    }
    for (const k of Object.keys(masks) as Array<keyof CapabilityMasks>) masks[k] &= available;
  }

  applyRlimits(sys, proc.rlimits);

  if (proc.noNewPrivileges) sys.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
  let seccomp: AppliedSecurity['seccomp'] = 'none';
  if (program && !proc.noNewPrivileges) {
    sys.seccompSetFilter(program);
    seccomp = 'before-credentials';
  }

  for (let cap = 0; cap <= lastCap; cap++) {
    if (((masks.bounding >> BigInt(cap)) & 1n) === 0n) sys.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0);
  }

  const { uid, gid, additionalGids } = proc.user;
  if (uid !== 0) sys.prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0);
  sys.setgroups(additionalGids);
  sys.setresgid(gid, gid, gid);
  sys.setresuid(uid, uid, uid);
  if (uid !== 0) sys.prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0);

  sys.capset({ effective: masks.effective, permitted: masks.permitted, inheritable: masks.inheritable });
  sys.prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
  for (let cap = 0; cap <= lastCap; cap++) {
    if ((masks.ambient >> BigInt(cap)) & 1n) sys.prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, cap, 0, 0);
  }

  if (program && proc.noNewPrivileges) {
    sys.seccompSetFilter(program);
    seccomp = 'last';
  }
  return { capabilities: masks, seccomp };
}

/** /proc/sys/kernel/cap_last_cap, or the highest capability berth knows. */
export function readLastCap(): number {
  try {
    const n = Number(readFileSync('/proc/sys/kernel/cap_last_cap', 'utf8').trim());
    if (Number.isInteger(n) && n > 0 && n < 64) return n;
  } catch {
    // /proc not mounted (or masked): fall back to the table.
  }
  return CAP_LAST_KNOWN;
}
