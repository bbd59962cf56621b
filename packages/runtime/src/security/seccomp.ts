import { release } from 'node:os';
import { BerthError } from '@berth/oci';
import { dockerDefaultProfile } from './seccomp-default.js';
import type { SeccompAction, SeccompArg, SeccompOperator, SeccompProfile, SeccompRule } from './seccomp-types.js';

/** Docker's seccomp profile JSON (what `--security-opt seccomp=file.json` accepts). */
export interface DockerSeccompProfile {
  defaultAction: string;
  defaultErrnoRet?: number;
  architectures?: string[];
  archMap?: Array<{ architecture: string; subArchitectures?: string[] | null }>;
  syscalls?: DockerSeccompRule[];
}

export interface DockerSeccompRule {
  name?: string;
  names?: string[];
  action: string;
  errnoRet?: number;
  args?: SeccompArg[] | null;
  includes?: DockerSeccompFilter;
  excludes?: DockerSeccompFilter;
  comment?: string;
}

export interface DockerSeccompFilter {
  caps?: string[];
  /** GOARCH names: amd64, arm64, x86, x32, arm, s390x, ... */
  arches?: string[];
  /** "4.8" */
  minKernel?: string;
}

export interface ResolveSeccompOptions {
  /** The container's (bounding) capabilities, canonical names; they unlock conditional rules. */
  capabilities: readonly string[];
  /** GOARCH-style native architecture (default: this machine's). */
  arch?: string;
  /** Kernel release string for `minKernel` conditions (default: os.release()). */
  kernelRelease?: string;
}

const ACTIONS: ReadonlySet<string> = new Set<SeccompAction>([
  'SCMP_ACT_ALLOW',
  'SCMP_ACT_ERRNO',
  'SCMP_ACT_KILL',
  'SCMP_ACT_KILL_THREAD',
  'SCMP_ACT_KILL_PROCESS',
  'SCMP_ACT_TRAP',
  'SCMP_ACT_TRACE',
  'SCMP_ACT_LOG',
]);
const OPERATORS: ReadonlySet<string> = new Set<SeccompOperator>([
  'SCMP_CMP_NE',
  'SCMP_CMP_LT',
  'SCMP_CMP_LE',
  'SCMP_CMP_EQ',
  'SCMP_CMP_GE',
  'SCMP_CMP_GT',
  'SCMP_CMP_MASKED_EQ',
]);

/** Node's process.arch → Go's GOARCH (the names docker profiles use). */
export function goArch(nodeArch: string = process.arch): string {
  switch (nodeArch) {
    case 'x64':
      return 'amd64';
    case 'ia32':
      return 'x86';
    case 'ppc64':
      return 'ppc64le';
    default:
      return nodeArch; // arm64, arm, s390x, riscv64, mips64el ... are spelled the same
  }
}

/** GOARCH → libseccomp's name for the native architecture. */
export function nativeSeccompArch(arch: string): string {
  const map: Record<string, string> = {
    amd64: 'SCMP_ARCH_X86_64',
    x86: 'SCMP_ARCH_X86',
    arm64: 'SCMP_ARCH_AARCH64',
    arm: 'SCMP_ARCH_ARM',
    s390x: 'SCMP_ARCH_S390X',
    ppc64le: 'SCMP_ARCH_PPC64LE',
    riscv64: 'SCMP_ARCH_RISCV64',
    mips64el: 'SCMP_ARCH_MIPSEL64',
  };
  const native = map[arch];
  if (!native) throw new BerthError('EUNSUPPORTED', `seccomp: architecture ${arch} is not supported`);
  return native;
}

/**
 * Docker's default profile resolved for one container: rules that need a
 * capability the container lacks are left out (so `unshare`, `mount`, `keyctl`…
 * get EPERM), clone is allowed only without namespace flags, clone3 gets ENOSYS
 * (libc then falls back to clone), personality only with the harmless values.
 */
export function defaultSeccompProfile(options: ResolveSeccompOptions): SeccompProfile {
  return resolveSeccompProfile(dockerDefaultProfile(), options);
}

/** Apply a docker profile's conditions for one container (moby's setupSeccomp). */
export function resolveSeccompProfile(profile: DockerSeccompProfile, options: ResolveSeccompOptions): SeccompProfile {
  const checked = validateDockerProfile(profile, 'seccomp profile');
  const arch = options.arch ?? goArch();
  const kernel = options.kernelRelease ?? release();
  const caps = new Set(options.capabilities);
  const native = nativeSeccompArch(arch);

  let architectures: string[] = [];
  if (checked.architectures && checked.architectures.length > 0) {
    architectures = [...checked.architectures];
  } else if (checked.archMap) {
    for (const entry of checked.archMap) {
      if (entry.architecture === native) architectures.push(entry.architecture, ...(entry.subArchitectures ?? []));
    }
  }
  if (architectures.length === 0) architectures = [native];

  const syscalls: SeccompRule[] = [];
  for (const rule of checked.syscalls ?? []) {
    const ex = rule.excludes ?? {};
    if (ex.arches?.includes(arch)) continue;
    if (ex.caps?.some((c) => caps.has(c))) continue;
    if (ex.minKernel !== undefined && kernelAtLeast(kernel, ex.minKernel)) continue;
    const inc = rule.includes ?? {};
    if (inc.arches && inc.arches.length > 0 && !inc.arches.includes(arch)) continue;
    if (inc.caps && !inc.caps.every((c) => caps.has(c))) continue;
    if (inc.minKernel !== undefined && !kernelAtLeast(kernel, inc.minKernel)) continue;
    const names = [...(rule.names ?? []), ...(rule.name ? [rule.name] : [])];
    const out: SeccompRule = { names, action: rule.action as SeccompAction };
    if (rule.errnoRet !== undefined) out.errnoRet = rule.errnoRet;
    if (rule.args && rule.args.length > 0) out.args = rule.args.map((a) => ({ ...a }));
    syscalls.push(out);
  }
  return {
    defaultAction: checked.defaultAction as SeccompAction,
    defaultErrnoRet: checked.defaultErrnoRet ?? 1,
    architectures,
    syscalls,
  };
}

/**
 * Parse a docker-format profile file's contents (untrusted JSON): one-line
 * EINVAL_ARGUMENT errors naming the field.
 */
export function parseDockerSeccompProfile(text: string, what = 'seccomp profile'): DockerSeccompProfile {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new BerthError('EINVAL_ARGUMENT', `${what}: invalid JSON: ${(err as Error).message}`, { cause: err });
  }
  return validateDockerProfile(value, what);
}

function validateDockerProfile(value: unknown, what: string): DockerSeccompProfile {
  const fail = (where: string, problem: string): never => {
    throw new BerthError('EINVAL_ARGUMENT', `${what}: ${where}: ${problem}`);
  };
  if (!isObject(value)) return fail('(root)', 'expected an object');
  const p = value;
  if (typeof p.defaultAction !== 'string') fail('defaultAction', 'expected a string');
  checkAction(p.defaultAction as string, 'defaultAction', fail);
  if (p.defaultErrnoRet !== undefined && p.defaultErrnoRet !== null) checkErrno(p.defaultErrnoRet, 'defaultErrnoRet', fail);
  if (p.architectures !== undefined && p.architectures !== null) {
    checkStringArray(p.architectures, 'architectures', fail);
  }
  if (p.archMap !== undefined && p.archMap !== null) {
    if (!Array.isArray(p.archMap)) fail('archMap', 'expected an array');
    (p.archMap as unknown[]).forEach((entry, i) => {
      if (!isObject(entry) || typeof entry.architecture !== 'string') fail(`archMap[${i}].architecture`, 'expected a string');
      const subs = (entry as Record<string, unknown>).subArchitectures;
      if (subs !== undefined && subs !== null) checkStringArray(subs, `archMap[${i}].subArchitectures`, fail);
    });
  }
  const archs = p.architectures as string[] | undefined | null;
  if (archs && archs.length > 0 && Array.isArray(p.archMap) && p.archMap.length > 0) {
    fail('architectures', "'architectures' and 'archMap' cannot both be given");
  }
  if (p.syscalls !== undefined && p.syscalls !== null) {
    if (!Array.isArray(p.syscalls)) fail('syscalls', 'expected an array');
    (p.syscalls as unknown[]).forEach((rule, i) => validateRule(rule, `syscalls[${i}]`, fail));
  }
  if (p.listenerPath !== undefined && p.listenerPath !== '') fail('listenerPath', 'seccomp notify listeners are not supported');
  const out: DockerSeccompProfile = { defaultAction: p.defaultAction as string };
  if (typeof p.defaultErrnoRet === 'number') out.defaultErrnoRet = p.defaultErrnoRet;
  if (Array.isArray(p.architectures)) out.architectures = p.architectures as string[];
  if (Array.isArray(p.archMap)) out.archMap = p.archMap as DockerSeccompProfile['archMap'];
  if (Array.isArray(p.syscalls)) out.syscalls = p.syscalls as DockerSeccompRule[];
  return out;
}

type Fail = (where: string, problem: string) => never;

function validateRule(rule: unknown, at: string, fail: Fail): void {
  if (!isObject(rule)) fail(at, 'expected an object');
  const r = rule as Record<string, unknown>;
  const hasName = r.name !== undefined && r.name !== '';
  const hasNames = Array.isArray(r.names) && r.names.length > 0;
  if (hasName && hasNames) fail(at, "use either 'name' or 'names', not both");
  if (hasName && typeof r.name !== 'string') fail(`${at}.name`, 'expected a string');
  if (r.names !== undefined && r.names !== null) checkStringArray(r.names, `${at}.names`, fail);
  if (!hasName && !hasNames) fail(at, 'no syscall names');
  if (typeof r.action !== 'string') fail(`${at}.action`, 'expected a string');
  checkAction(r.action as string, `${at}.action`, fail);
  if (r.errnoRet !== undefined && r.errnoRet !== null) checkErrno(r.errnoRet, `${at}.errnoRet`, fail);
  if (r.args !== undefined && r.args !== null) {
    if (!Array.isArray(r.args)) fail(`${at}.args`, 'expected an array');
    (r.args as unknown[]).forEach((arg, j) => {
      const where = `${at}.args[${j}]`;
      if (!isObject(arg)) fail(where, 'expected an object');
      const a = arg as Record<string, unknown>;
      if (typeof a.index !== 'number' || !Number.isInteger(a.index) || a.index < 0 || a.index > 5) fail(`${where}.index`, 'expected 0..5');
      if (typeof a.op !== 'string' || !OPERATORS.has(a.op)) fail(`${where}.op`, `unknown operator ${JSON.stringify(a.op)}`);
      toDatum(a.value, `${where}.value`, fail);
      if (a.valueTwo !== undefined) toDatum(a.valueTwo, `${where}.valueTwo`, fail);
    });
  }
  for (const key of ['includes', 'excludes'] as const) {
    const f = r[key];
    if (f === undefined || f === null) continue;
    if (!isObject(f)) fail(`${at}.${key}`, 'expected an object');
    const ff = f as Record<string, unknown>;
    if (ff.caps !== undefined && ff.caps !== null) checkStringArray(ff.caps, `${at}.${key}.caps`, fail);
    if (ff.arches !== undefined && ff.arches !== null) checkStringArray(ff.arches, `${at}.${key}.arches`, fail);
    if (ff.minKernel !== undefined && ff.minKernel !== null && (typeof ff.minKernel !== 'string' || !/^\d+\.\d+/.test(ff.minKernel))) {
      fail(`${at}.${key}.minKernel`, 'expected a version like "4.8"');
    }
  }
}

function checkAction(action: string, where: string, fail: Fail): void {
  if (action === 'SCMP_ACT_NOTIFY') fail(where, 'SCMP_ACT_NOTIFY is not supported');
  if (!ACTIONS.has(action)) fail(where, `unknown action ${JSON.stringify(action)}`);
}

function checkErrno(value: unknown, where: string, fail: Fail): void {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > 4095) fail(where, 'expected an errno 0..4095');
}

function checkStringArray(value: unknown, where: string, fail: Fail): void {
  if (!Array.isArray(value) || !value.every((v) => typeof v === 'string')) fail(where, 'expected an array of strings');
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

const U64_MAX = (1n << 64n) - 1n;

/** A comparison value as a u64 (numbers, or decimal strings for values beyond 2^53). */
export function toDatum(value: unknown, where = 'value', fail?: Fail): bigint {
  const bad = (problem: string): never => {
    if (fail) return fail(where, problem);
    throw new BerthError('EINVAL_ARGUMENT', `seccomp: ${where}: ${problem}`);
  };
  let n: bigint;
  if (typeof value === 'number') {
    if (!Number.isSafeInteger(value)) return bad('expected an integer (use a decimal string above 2^53)');
    n = BigInt(value);
  } else if (typeof value === 'string' && /^\d+$/.test(value)) {
    n = BigInt(value);
  } else {
    return bad('expected an unsigned integer');
  }
  if (n < 0n || n > U64_MAX) return bad('out of the u64 range');
  return n;
}

/** Is kernel release `have` ("6.1.0-13-amd64") at least `want` ("4.8")? */
export function kernelAtLeast(have: string, want: string): boolean {
  const parse = (s: string): [number, number] => {
    const m = /^(\d+)\.(\d+)/.exec(s);
    return m ? [Number(m[1]), Number(m[2])] : [0, 0];
  };
  const [hM, hm] = parse(have);
  const [wM, wm] = parse(want);
  return hM > wM || (hM === wM && hm >= wm);
}

/** Every syscall name an ALLOW rule (with or without argument conditions) lets through. */
export function allowedSyscalls(profile: SeccompProfile): Set<string> {
  const out = new Set<string>();
  for (const rule of profile.syscalls) if (rule.action === 'SCMP_ACT_ALLOW') for (const n of rule.names) out.add(n);
  return out;
}
