import { BerthError } from '@berth/oci';
import type { RlimitSpec } from '../spec/types.js';
import { RLIM_INFINITY } from '@berth/sys';
import type { RlimitValue, SecuritySyscalls } from '@berth/sys';

/** Resource numbers (asm-generic/resource.h; x86_64 and arm64 agree). */
export const RLIMITS: Readonly<Record<string, number>> = Object.freeze({
  RLIMIT_CPU: 0,
  RLIMIT_FSIZE: 1,
  RLIMIT_DATA: 2,
  RLIMIT_STACK: 3,
  RLIMIT_CORE: 4,
  RLIMIT_RSS: 5,
  RLIMIT_NPROC: 6,
  RLIMIT_NOFILE: 7,
  RLIMIT_MEMLOCK: 8,
  RLIMIT_AS: 9,
  RLIMIT_LOCKS: 10,
  RLIMIT_SIGPENDING: 11,
  RLIMIT_MSGQUEUE: 12,
  RLIMIT_NICE: 13,
  RLIMIT_RTPRIO: 14,
  RLIMIT_RTTIME: 15,
});

/**
 * `--ulimit name=soft[:hard]` (docker's syntax: `nofile=1024:2048`, `core=-1`;
 * -1 is unlimited; without `:hard` the hard limit equals the soft one).
 */
export function parseUlimit(text: string): RlimitSpec {
  const bad = (why: string): never => {
    throw new BerthError('EINVAL_ARGUMENT', `invalid --ulimit "${text}": ${why}`, { details: { flag: '--ulimit', value: text } });
  };
  const eq = text.indexOf('=');
  if (eq <= 0) return bad('expected name=soft[:hard]');
  const name = text.slice(0, eq).trim().toLowerCase();
  const type = `RLIMIT_${name.toUpperCase()}`;
  if (!(type in RLIMITS)) return bad(`unknown limit "${name}"`);
  const parts = text.slice(eq + 1).split(':');
  if (parts.length > 2) return bad('expected soft[:hard]');
  const num = (s: string | undefined): number => {
    if (s === undefined || !/^-?\d+$/.test(s.trim())) return bad(`"${s ?? ''}" is not an integer`);
    const n = Number(s.trim());
    if (n < -1 || !Number.isSafeInteger(n)) return bad(`${s} is out of range`);
    return n;
  };
  const soft = num(parts[0]);
  const hard = parts.length === 2 ? num(parts[1]) : soft;
  if (toKernel(soft) > toKernel(hard)) return bad(`soft limit ${soft} is above the hard limit ${hard}`);
  return { type, soft, hard };
}

/** Spec value (-1 = unlimited) → the kernel's u64. */
export function toKernel(n: number): bigint {
  return n < 0 ? RLIM_INFINITY : BigInt(n);
}

/**
 * The value berth sets for one requested limit given the current one: never
 * above the current hard limit (raising it needs CAP_SYS_RESOURCE, which the
 * runtime may not have: a requested hard limit above it is clamped to it), and
 * the soft limit never above the resulting hard limit.
 */
export function clampRlimit(requested: RlimitSpec, current: RlimitValue): RlimitValue {
  let hard = toKernel(requested.hard);
  if (hard > current.hard) hard = current.hard;
  let soft = toKernel(requested.soft);
  if (soft > hard) soft = hard;
  return { soft, hard };
}

/** Set each rlimit of the spec (only lowering or keeping the hard limit). Returns what was set. */
export function applyRlimits(sys: Pick<SecuritySyscalls, 'getrlimit' | 'setrlimit'>, rlimits: readonly RlimitSpec[]): Array<{ type: string } & RlimitValue> {
  const applied: Array<{ type: string } & RlimitValue> = [];
  for (const rl of rlimits) {
    const resource = RLIMITS[rl.type];
    if (resource === undefined) throw new BerthError('EINVAL_ARGUMENT', `set rlimits: unknown limit ${rl.type}`);
    const current = sys.getrlimit(resource);
    const value = clampRlimit(rl, current);
    sys.setrlimit(resource, value);
    applied.push({ type: rl.type, ...value });
  }
  return applied;
}
