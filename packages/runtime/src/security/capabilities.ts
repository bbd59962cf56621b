import { BerthError } from '@berth/oci';

/** Linux capability numbers (linux/capability.h), CAP_CHOWN = 0 … CAP_CHECKPOINT_RESTORE = 40. */
export const CAPABILITIES: Readonly<Record<string, number>> = Object.freeze({
  CAP_CHOWN: 0,
  CAP_DAC_OVERRIDE: 1,
  CAP_DAC_READ_SEARCH: 2,
  CAP_FOWNER: 3,
  CAP_FSETID: 4,
  CAP_KILL: 5,
  CAP_SETGID: 6,
  CAP_SETUID: 7,
  CAP_SETPCAP: 8,
  CAP_LINUX_IMMUTABLE: 9,
  CAP_NET_BIND_SERVICE: 10,
  CAP_NET_BROADCAST: 11,
  CAP_NET_ADMIN: 12,
  CAP_NET_RAW: 13,
  CAP_IPC_LOCK: 14,
  CAP_IPC_OWNER: 15,
  CAP_SYS_MODULE: 16,
  CAP_SYS_RAWIO: 17,
  CAP_SYS_CHROOT: 18,
  CAP_SYS_PTRACE: 19,
  CAP_SYS_PACCT: 20,
  CAP_SYS_ADMIN: 21,
  CAP_SYS_BOOT: 22,
  CAP_SYS_NICE: 23,
  CAP_SYS_RESOURCE: 24,
  CAP_SYS_TIME: 25,
  CAP_SYS_TTY_CONFIG: 26,
  CAP_MKNOD: 27,
  CAP_LEASE: 28,
  CAP_AUDIT_WRITE: 29,
  CAP_AUDIT_CONTROL: 30,
  CAP_SETFCAP: 31,
  CAP_MAC_OVERRIDE: 32,
  CAP_MAC_ADMIN: 33,
  CAP_SYSLOG: 34,
  CAP_WAKE_ALARM: 35,
  CAP_BLOCK_SUSPEND: 36,
  CAP_AUDIT_READ: 37,
  CAP_PERFMON: 38,
  CAP_BPF: 39,
  CAP_CHECKPOINT_RESTORE: 40,
});

/** The highest capability number berth knows (the kernel may know fewer: /proc/sys/kernel/cap_last_cap). */
export const CAP_LAST_KNOWN = 40;

/** All capability names in number order. */
export const ALL_CAPABILITIES: readonly string[] = Object.freeze(
  Object.entries(CAPABILITIES)
    .sort((a, b) => a[1] - b[1])
    .map(([name]) => name),
);

/** Docker's default set for unprivileged containers (moby oci/caps/defaults.go), in docker's order. */
export const DEFAULT_CAPABILITIES: readonly string[] = Object.freeze([
  'CAP_CHOWN',
  'CAP_DAC_OVERRIDE',
  'CAP_FSETID',
  'CAP_FOWNER',
  'CAP_MKNOD',
  'CAP_NET_RAW',
  'CAP_SETGID',
  'CAP_SETUID',
  'CAP_SETFCAP',
  'CAP_SETPCAP',
  'CAP_NET_BIND_SERVICE',
  'CAP_SYS_CHROOT',
  'CAP_KILL',
  'CAP_AUDIT_WRITE',
]);

/**
 * Canonical name for a user-supplied capability: case-insensitive, `CAP_`
 * prefix optional; `ALL` stays `ALL`. Unknown names throw EINVAL_ARGUMENT
 * naming the flag.
 */
export function normaliseCapability(name: string, flag = 'capability'): string {
  const upper = name.trim().toUpperCase();
  if (upper === 'ALL') return 'ALL';
  const canonical = upper.startsWith('CAP_') ? upper : `CAP_${upper}`;
  if (!(canonical in CAPABILITIES)) {
    throw new BerthError('EINVAL_ARGUMENT', `${flag}: unknown capability "${name}"`, { details: { flag, value: name } });
  }
  return canonical;
}

export interface ResolveCapabilitiesOptions {
  capAdd?: readonly string[];
  capDrop?: readonly string[];
  privileged?: boolean;
  /** Starting set (default: docker's 14 defaults). */
  defaults?: readonly string[];
}

/**
 * The capability set of a container, with docker's rules (moby TweakCapabilities):
 * privileged → every capability (adds/drops ignored); `--cap-add ALL` → all but
 * the dropped ones; `--cap-drop ALL` → only the added ones; otherwise defaults
 * minus drops plus adds. Returned in capability-number order, without duplicates.
 */
export function resolveCapabilities(options: ResolveCapabilitiesOptions = {}): string[] {
  if (options.privileged) return [...ALL_CAPABILITIES];
  const adds = (options.capAdd ?? []).map((c) => normaliseCapability(c, '--cap-add'));
  const drops = (options.capDrop ?? []).map((c) => normaliseCapability(c, '--cap-drop'));
  const basics = options.defaults ?? DEFAULT_CAPABILITIES;
  let caps: string[];
  if (adds.includes('ALL')) {
    caps = ALL_CAPABILITIES.filter((c) => !drops.includes(c));
  } else if (drops.includes('ALL')) {
    caps = adds;
  } else {
    caps = [...basics.filter((c) => !drops.includes(c)), ...adds];
  }
  return sortCapabilities(caps);
}

/** Unique, known, in number order. */
export function sortCapabilities(names: Iterable<string>): string[] {
  const set = new Set<string>();
  for (const n of names) set.add(normaliseCapability(n));
  set.delete('ALL');
  return [...set].sort((a, b) => capNumber(a) - capNumber(b));
}

export function capNumber(name: string): number {
  const n = CAPABILITIES[name];
  if (n === undefined) throw new BerthError('EINVAL_ARGUMENT', `capability: unknown capability "${name}"`);
  return n;
}

/** Bit mask (bit N = capability N) of a list of canonical names. */
export function capMask(names: Iterable<string>): bigint {
  let mask = 0n;
  for (const name of names) mask |= 1n << BigInt(capNumber(name));
  return mask;
}

/** Names of the capabilities set in a mask (unknown bits ignored). */
export function capNames(mask: bigint): string[] {
  return ALL_CAPABILITIES.filter((name) => (mask >> BigInt(capNumber(name))) & 1n);
}

/** Mask of every capability 0..lastCap. */
export function fullMask(lastCap: number = CAP_LAST_KNOWN): bigint {
  return (1n << BigInt(lastCap + 1)) - 1n;
}

/** The five sets as masks. */
export interface CapabilityMasks {
  bounding: bigint;
  effective: bigint;
  permitted: bigint;
  inheritable: bigint;
  ambient: bigint;
}

export function capabilityMasks(spec: {
  bounding: readonly string[];
  effective: readonly string[];
  permitted: readonly string[];
  inheritable: readonly string[];
  ambient: readonly string[];
}): CapabilityMasks {
  return {
    bounding: capMask(spec.bounding),
    effective: capMask(spec.effective),
    permitted: capMask(spec.permitted),
    inheritable: capMask(spec.inheritable),
    ambient: capMask(spec.ambient),
  };
}

/**
 * capset(2) with _LINUX_CAPABILITY_VERSION_3 takes two u32 words per set:
 * word 0 holds capabilities 0..31, word 1 holds 32..63.
 */
export function splitCapWords(mask: bigint): [number, number] {
  return [Number(mask & 0xffffffffn), Number((mask >> 32n) & 0xffffffffn)];
}

export function joinCapWords(low: number, high: number): bigint {
  return (BigInt(high >>> 0) << 32n) | BigInt(low >>> 0);
}
