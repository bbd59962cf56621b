import { closeSync, fstatSync, readSync } from 'node:fs';
import { BerthError } from '@berth/oci';
import { errnoName, libseccomp, type Libseccomp } from '@berth/sys';
import { AUDIT_ARCH_X86_64, enosysStub, type EnosysSection } from './enosys.js';
import { toDatum } from './seccomp.js';
import type { SeccompAction, SeccompArg, SeccompOperator, SeccompProfile } from './seccomp-types.js';

/*
 * libseccomp (libseccomp.so.2, Debian package libseccomp2, a dependency of
 * runc; its calls are bound in @berth/sys), used only to COMPILE a profile into a classic BPF
 * program. Loading the program is one prctl(PR_SET_SECCOMP) in the init
 * (Syscalls.seccompSetFilter), so the init does not need libseccomp at all when
 * the runtime compiles in the parent and passes the bytes along.
 */

type Lib = Libseccomp;
const load = libseccomp;

const SCMP_FLTATR_ACT_BADARCH = 2;
const SCMP_FLTATR_CTL_NNP = 3;
const SCMP_ACT_KILL_PROCESS = 0x80000000;
const MFD_CLOEXEC = 1;
/** libseccomp's __NR_SCMP_ERROR: the name is unknown on every architecture it knows. */
const NR_SCMP_ERROR = -1;
/** Classic BPF's limit on program length (BPF_MAXINSNS). */
const BPF_MAXINSNS = 4096;

/** libseccomp's encoding of an action (seccomp.h SCMP_ACT_*). */
export function actionValue(action: SeccompAction, errno: number): number {
  switch (action) {
    case 'SCMP_ACT_ALLOW':
      return 0x7fff0000;
    case 'SCMP_ACT_ERRNO':
      return (0x00050000 | (errno & 0xffff)) >>> 0;
    case 'SCMP_ACT_TRACE':
      return (0x7ff00000 | (errno & 0xffff)) >>> 0;
    case 'SCMP_ACT_LOG':
      return 0x7ffc0000;
    case 'SCMP_ACT_TRAP':
      return 0x00030000;
    case 'SCMP_ACT_KILL':
    case 'SCMP_ACT_KILL_THREAD':
      return 0x00000000;
    case 'SCMP_ACT_KILL_PROCESS':
      return SCMP_ACT_KILL_PROCESS;
  }
}

const OPERATOR_VALUES: Record<SeccompOperator, number> = {
  SCMP_CMP_NE: 1,
  SCMP_CMP_LT: 2,
  SCMP_CMP_LE: 3,
  SCMP_CMP_EQ: 4,
  SCMP_CMP_GE: 5,
  SCMP_CMP_GT: 6,
  SCMP_CMP_MASKED_EQ: 7,
};

/** `SCMP_ARCH_X86_64` → libseccomp's token value. */
function archToken(l: Lib, name: string): number {
  const short = name.replace(/^SCMP_ARCH_/, '').toLowerCase();
  const token = l.archResolve(short) as number;
  if (!token) throw new BerthError('EINVAL_ARGUMENT', `seccomp: unknown architecture ${name}`);
  return token;
}

/**
 * What compileSeccomp's output looks like for a given profile; part of the key
 * of every on-disk cache of compiled programs. Bump it when the same profile
 * compiles to a different program (2: the -ENOSYS stub in front).
 */
export const SECCOMP_COMPILER_VERSION = 2;

export interface CompiledSeccomp {
  /** struct sock_filter[]: 8 bytes per instruction, native endianness. */
  program: Buffer;
  /** Syscall names that no architecture of the filter knows (left out, as runc does). */
  unknownSyscalls: string[];
}

const cache = new Map<string, CompiledSeccomp>();

/**
 * Compile a resolved profile to a classic BPF program (what prctl(PR_SET_SECCOMP,
 * SECCOMP_MODE_FILTER) loads). Like runc: names no architecture knows are
 * skipped; a rule whose action equals the default action is skipped; several
 * conditions on the same argument become separate (ORed) rules. Foreign
 * architectures are killed (SCMP_FLTATR_ACT_BADARCH) as libseccomp does by
 * default. Like runc, an -ENOSYS stub goes first (enosys.ts): syscalls above
 * the highest number the profile names get ENOSYS, not the default errno.
 * Results are cached per profile.
 */
export function compileSeccomp(profile: SeccompProfile): CompiledSeccomp {
  const key = JSON.stringify(profile);
  const hit = cache.get(key);
  if (hit) return hit;
  const l = load();
  const defaultAction = actionValue(profile.defaultAction, profile.defaultErrnoRet);
  const ctx = l.init(defaultAction);
  if (!ctx) throw new BerthError('ERUNTIME', 'seccomp: seccomp_init failed');
  const unknown: string[] = [];
  try {
    check(l.attrSet(ctx, SCMP_FLTATR_CTL_NNP, 0), 'seccomp_attr_set(CTL_NNP)');
    check(l.attrSet(ctx, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL_PROCESS), 'seccomp_attr_set(ACT_BADARCH)');
    const native = l.archNative() as number;
    for (const arch of profile.architectures) {
      const token = archToken(l, arch);
      if (token === native) continue;
      const rc = l.archAdd(ctx, token) as number;
      if (rc !== 0 && rc !== -17 /* EEXIST */) check(rc, `seccomp_arch_add(${arch})`);
    }
    for (const rule of profile.syscalls) {
      const action = actionValue(rule.action, rule.errnoRet ?? profile.defaultErrnoRet);
      if (action === defaultAction) continue;
      const groups = argumentGroups(rule.args ?? []);
      for (const name of rule.names) {
        const nr = l.resolveName(name) as number;
        if (nr === NR_SCMP_ERROR) {
          unknown.push(name);
          continue;
        }
        for (const args of groups) {
          const cmps = args.map((a) => ({
            arg: a.index,
            op: OPERATOR_VALUES[a.op],
            datum_a: toDatum(a.value, `${name}.args[${a.index}].value`),
            datum_b: a.valueTwo === undefined ? 0n : toDatum(a.valueTwo, `${name}.args[${a.index}].valueTwo`),
          }));
          check(l.ruleAddArray(ctx, action, nr, cmps.length, cmps.length > 0 ? cmps : null), `seccomp_rule_add(${name})`);
        }
      }
    }
    const program = Buffer.concat([enosysStub(enosysSections(l, profile)), exportProgram(l, ctx)]);
    if (program.length / 8 > BPF_MAXINSNS) {
      throw new BerthError('EINVAL_ARGUMENT', `seccomp: compiled filter has ${program.length / 8} instructions, more than the kernel's ${BPF_MAXINSNS}`);
    }
    const compiled = { program, unknownSyscalls: unknown };
    cache.set(key, compiled);
    return compiled;
  } finally {
    l.release(ctx);
  }
}

/** Architectures whose libseccomp token is their AUDIT_ARCH value (x32's is not: it shares x86_64's). */
const AUDIT_ARCH_TOKENS: ReadonlySet<string> = new Set([
  'SCMP_ARCH_X86_64',
  'SCMP_ARCH_X86',
  'SCMP_ARCH_AARCH64',
  'SCMP_ARCH_ARM',
  'SCMP_ARCH_RISCV64',
  'SCMP_ARCH_PPC64LE',
  'SCMP_ARCH_PPC64',
]);
const ENOSYS = 38;

/**
 * What the -ENOSYS stub (enosys.ts) checks, as runc: for the native
 * architecture and each one of the profile's, the highest syscall number
 * any rule names (whatever its action). None when the default action lets
 * calls through (allow, log, trace) or already returns ENOSYS. s390(x) and the
 * MIPS ABIs get no section (their calls go straight to the filter: EPERM).
 */
function enosysSections(l: Lib, profile: SeccompProfile): EnosysSection[] {
  const { defaultAction } = profile;
  if (defaultAction === 'SCMP_ACT_ALLOW' || defaultAction === 'SCMP_ACT_LOG' || defaultAction === 'SCMP_ACT_TRACE') return [];
  if (defaultAction === 'SCMP_ACT_ERRNO' && profile.defaultErrnoRet === ENOSYS) return [];
  const native = l.archNative() as number;
  const tokens = new Set<number>([native]);
  for (const arch of profile.architectures) tokens.add(archToken(l, arch));
  const names = [...new Set(profile.syscalls.flatMap((r) => r.names))];
  const last = (token: number): number => {
    let max = -1;
    for (const name of names) max = Math.max(max, l.resolveNameArch(token, name) as number); // < 0: not on this arch
    return max;
  };
  const x32 = archToken(l, 'SCMP_ARCH_X32');
  const sections: EnosysSection[] = [];
  for (const name of AUDIT_ARCH_TOKENS) {
    const token = archToken(l, name);
    if (!tokens.has(token)) continue;
    const section: EnosysSection = { auditArch: token, last: last(token) };
    if (section.last < 0) continue;
    if (token === AUDIT_ARCH_X86_64 && tokens.has(x32)) {
      const lastX32 = last(x32);
      if (lastX32 >= 0) section.lastX32 = lastX32;
    }
    sections.push(section);
  }
  return sections;
}

/** Conditions ANDed in one rule, unless one argument index repeats: then one rule per condition (ORed). */
function argumentGroups(args: readonly SeccompArg[]): SeccompArg[][] {
  if (args.length === 0) return [[]];
  const counts = new Map<number, number>();
  for (const a of args) counts.set(a.index, (counts.get(a.index) ?? 0) + 1);
  const repeated = [...counts.values()].some((n) => n > 1);
  return repeated ? args.map((a) => [a]) : [[...args]];
}

function exportProgram(l: Lib, ctx: unknown): Buffer {
  const fd = l.memfdCreate('berth-seccomp', MFD_CLOEXEC) as number;
  if (fd < 0) throw new BerthError('ERUNTIME', 'seccomp: memfd_create failed');
  try {
    check(l.exportBpf(ctx, fd), 'seccomp_export_bpf');
    const size = fstatSync(fd).size;
    const buf = Buffer.alloc(size);
    let off = 0;
    while (off < size) {
      const n = readSync(fd, buf, off, size - off, off);
      if (n === 0) break;
      off += n;
    }
    if (off !== size || size % 8 !== 0) throw new BerthError('ERUNTIME', `seccomp: exported filter is ${off} bytes, expected ${size} in 8-byte instructions`);
    return buf;
  } finally {
    closeSync(fd);
  }
}

function check(rc: unknown, what: string): void {
  if (typeof rc === 'number' && rc < 0) {
    throw new BerthError('ERUNTIME', `seccomp: ${what}: ${errnoName(-rc)}`, { details: { errno: -rc } });
  }
}
