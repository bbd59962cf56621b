import { endianness } from 'node:os';
import { BerthError } from '@berth/oci';

/*
 * The -ENOSYS prefix runc puts before every filter it loads (docker's
 * behaviour, runc libcontainer/seccomp/patchbpf): a system call numbered above
 * the highest one the profile names, for the caller's architecture, fails with
 * ENOSYS instead of the profile's default errno (EPERM). A syscall the profile
 * could not know (newer than it, or than libseccomp) then looks to the program
 * like a kernel without it, and libc falls back to the older call (glibc's
 * fchmodat2 -> fchmodat, clone3 -> clone …) instead of failing with EPERM.
 * Syscalls the profile does know and does not allow (io_uring_setup, keyctl …)
 * are below that number and keep the profile's errno.
 *
 * Written from the seccomp_data layout (nr at offset 0, arch at 4) and the
 * classic BPF encoding; the program below is our own.
 */

/** One architecture the stub checks: its AUDIT_ARCH value and the highest syscall number the profile names there. */
export interface EnosysSection {
  /** AUDIT_ARCH_* as the kernel reports it in seccomp_data.arch. */
  auditArch: number;
  /** Highest syscall number the profile names for this ABI. */
  last: number;
  /**
   * x86_64 only: the highest x32 syscall number (bit 30 set), when the
   * profile covers x32. x32 calls arrive with AUDIT_ARCH_X86_64 and bit 30 set;
   * without this they go straight to the filter.
   */
  lastX32?: number;
}

export const AUDIT_ARCH_X86_64 = 0xc000003e;
const X32_SYSCALL_BIT = 0x40000000;

// Classic BPF opcodes (linux/bpf_common.h, linux/filter.h).
const LD_W_ABS = 0x20;
const JA = 0x05;
const JEQ_K = 0x15;
const JGT_K = 0x25;
const JSET_K = 0x45;
const RET_K = 0x06;
/** SECCOMP_RET_ERRNO | ENOSYS. */
export const RET_ERRNO_ENOSYS = 0x00050000 | 38;
const OFFSET_NR = 0;
const OFFSET_ARCH = 4;

type Target = string;
type Insn =
  | { op: 'ld'; offset: number }
  | { op: 'ja'; to: Target }
  | { op: 'jeq' | 'jgt' | 'jset'; k: number; jt: Target; jf: Target }
  | { op: 'ret'; k: number }
  | { op: 'label'; name: Target };

/**
 * The stub as struct sock_filter[] (8 bytes per instruction, native
 * endianness), to be put in front of a filter: every path that does not
 * return ENOSYS falls through to the filter's first instruction. Empty when
 * there is no section.
 */
export function enosysStub(sections: readonly EnosysSection[]): Buffer {
  if (sections.length === 0) return Buffer.alloc(0);
  const code: Insn[] = [{ op: 'ld', offset: OFFSET_ARCH }];
  sections.forEach((s, i) => code.push({ op: 'jeq', k: s.auditArch, jt: `arch${i}`, jf: `next${i}` }, { op: 'label', name: `next${i}` }));
  code.push({ op: 'ja', to: 'filter' }); // another architecture: the filter decides (libseccomp kills it)
  sections.forEach((s, i) => {
    code.push({ op: 'label', name: `arch${i}` }, { op: 'ld', offset: OFFSET_NR });
    if (s.auditArch === AUDIT_ARCH_X86_64) {
      // x86_64 and x32 share AUDIT_ARCH_X86_64; x32 numbers carry bit 30.
      code.push({ op: 'jset', k: X32_SYSCALL_BIT, jt: s.lastX32 === undefined ? 'filter' : `x32_${i}`, jf: `native${i}` });
      code.push({ op: 'label', name: `native${i}` });
    }
    code.push({ op: 'jgt', k: s.last, jt: 'enosys', jf: 'filter' });
    if (s.auditArch === AUDIT_ARCH_X86_64 && s.lastX32 !== undefined) {
      code.push({ op: 'label', name: `x32_${i}` }, { op: 'jgt', k: s.lastX32, jt: 'enosys', jf: 'filter' });
    }
  });
  code.push({ op: 'label', name: 'enosys' }, { op: 'ret', k: RET_ERRNO_ENOSYS }, { op: 'label', name: 'filter' });
  return assemble(code);
}

/** Labels → instruction indexes, then 8-byte instructions; `filter` is the index just past the stub. */
function assemble(code: readonly Insn[]): Buffer {
  const labels = new Map<Target, number>();
  let n = 0;
  for (const insn of code) {
    if (insn.op === 'label') labels.set(insn.name, n);
    else n++;
  }
  const out = Buffer.alloc(n * 8);
  const le = endianness() === 'LE';
  let i = 0;
  const offset = (to: Target, conditional: boolean): number => {
    const at = labels.get(to);
    if (at === undefined) throw new BerthError('ERUNTIME', `seccomp: ENOSYS stub: no label ${to}`);
    const off = at - (i + 1);
    if (off < 0 || (conditional && off > 255)) throw new BerthError('ERUNTIME', `seccomp: ENOSYS stub: jump to ${to} out of range (${off})`);
    return off;
  };
  for (const insn of code) {
    let op = 0;
    let jt = 0;
    let jf = 0;
    let k = 0;
    switch (insn.op) {
      case 'label':
        continue;
      case 'ld':
        op = LD_W_ABS;
        k = insn.offset;
        break;
      case 'ja':
        op = JA;
        k = offset(insn.to, false);
        break;
      case 'ret':
        op = RET_K;
        k = insn.k;
        break;
      case 'jeq':
      case 'jgt':
      case 'jset':
        op = insn.op === 'jeq' ? JEQ_K : insn.op === 'jgt' ? JGT_K : JSET_K;
        k = insn.k;
        jt = offset(insn.jt, true);
        jf = offset(insn.jf, true);
        break;
    }
    const at = i * 8;
    if (le) {
      out.writeUInt16LE(op, at);
      out.writeUInt32LE(k >>> 0, at + 4);
    } else {
      out.writeUInt16BE(op, at);
      out.writeUInt32BE(k >>> 0, at + 4);
    }
    out.writeUInt8(jt, at + 2);
    out.writeUInt8(jf, at + 3);
    i++;
  }
  return out;
}
