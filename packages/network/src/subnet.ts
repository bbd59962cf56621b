/**
 * IPv4 subnets: parsing, overlap, the pool berth picks from, and the host's routes
 * (a subnet that overlaps one would hide part of the host's network from it).
 */
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { promisify } from 'node:util';
import { BerthError } from '@berth/oci';

const execFileP = promisify(execFile);

/** An IPv4 prefix: `base` is the network address as an unsigned 32-bit number. */
export interface Subnet {
  base: number;
  prefix: number;
}

/** "10.88.0.1" → 0x0a580001, or undefined when it is not a dotted quad. */
export function parseIPv4(text: string): number | undefined {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(text);
  if (!m) return undefined;
  let n = 0;
  for (let i = 1; i <= 4; i++) {
    const part = m[i] ?? '';
    if (part.length > 1 && part.startsWith('0')) return undefined;
    const octet = Number(part);
    if (octet > 255) return undefined;
    n = n * 256 + octet;
  }
  return n;
}

export function formatIPv4(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
}

function mask(prefix: number): number {
  return prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
}

/** "10.88.0.0/16" → Subnet; host bits must be zero (docker refuses 10.88.0.1/16 as a subnet too). */
export function parseSubnet(text: string): Subnet {
  const [addr, len, ...rest] = text.split('/');
  const base = parseIPv4(addr ?? '');
  const prefix = len !== undefined && /^\d{1,2}$/.test(len) ? Number(len) : NaN;
  if (base === undefined || rest.length > 0 || !(prefix >= 0 && prefix <= 32)) {
    throw new BerthError('EINVAL_ARGUMENT', `parse subnet ${JSON.stringify(text)}: not an IPv4 CIDR such as 10.88.0.0/16`);
  }
  if ((base & ~mask(prefix)) >>> 0 !== 0) {
    throw new BerthError('EINVAL_ARGUMENT', `parse subnet ${text}: host bits are set (the network address is ${formatIPv4((base & mask(prefix)) >>> 0)}/${prefix})`);
  }
  return { base, prefix };
}

export function formatSubnet(s: Subnet): string {
  return `${formatIPv4(s.base)}/${s.prefix}`;
}

export function subnetContains(s: Subnet, ip: number): boolean {
  return ((ip & mask(s.prefix)) >>> 0) === s.base;
}

/** True when the two prefixes share any address (one contains the other's network address). */
export function subnetsOverlap(a: Subnet, b: Subnet): boolean {
  const p = Math.min(a.prefix, b.prefix);
  return ((a.base & mask(p)) >>> 0) === ((b.base & mask(p)) >>> 0);
}

/** The first usable address (base + 1), docker's and podman's default gateway. */
export function firstHost(s: Subnet): number {
  return s.base + 1;
}

/**
 * The subnets berth picks from when none is given: 10.88.0.0/16 (podman's default, for
 * `bridge`) then 10.89.0.0/16 … 10.127.0.0/16 for user-defined networks, as podman's
 * default_subnet_pools. Each candidate is skipped when it overlaps a host route or an
 * existing network.
 */
export function* subnetPool(): Generator<Subnet> {
  for (let second = 88; second <= 127; second++) yield { base: ((10 << 24) | (second << 16)) >>> 0, prefix: 16 };
}

/** The first pool subnet overlapping none of `taken`, or an ENETWORK_CONFLICT. */
export function pickSubnet(taken: readonly Subnet[], pool: Iterable<Subnet> = subnetPool()): Subnet {
  for (const candidate of pool) {
    if (!taken.some((t) => subnetsOverlap(t, candidate))) return candidate;
  }
  throw new BerthError('ENETWORK_CONFLICT', 'pick a subnet: every subnet of the pool (10.88.0.0/16 … 10.127.0.0/16) overlaps a host route or a network; give one with --subnet');
}

/**
 * The IPv4 prefixes the host routes to, the default route left out: the main table from
 * /proc/net/route (no process to start) and every table from `ip -j -4 route show table all`
 * when iproute2 is there (local addresses, policy tables). Each is a prefix a new bridge
 * subnet must not overlap.
 */
export async function hostRoutes(): Promise<Subnet[]> {
  const out: Subnet[] = [];
  const add = (base: number, prefix: number): void => {
    if (prefix === 0) return;
    out.push({ base: (base & mask(prefix)) >>> 0, prefix });
  };
  for (const r of parseProcNetRoute(await readFile('/proc/net/route', 'utf8').catch(() => ''))) add(r.base, r.prefix);
  try {
    const { stdout } = await execFileP('ip', ['-j', '-4', 'route', 'show', 'table', 'all'], { maxBuffer: 16 << 20 });
    for (const r of parseIpRouteJson(stdout)) add(r.base, r.prefix);
  } catch {
    // No iproute2 (or no JSON support): /proc/net/route alone.
  }
  return out;
}

/** /proc/net/route: Destination and Mask in host byte order hex (little-endian on x86 and arm). */
export function parseProcNetRoute(text: string): Subnet[] {
  const out: Subnet[] = [];
  for (const line of text.split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    const dst = f[1];
    const m = f[7];
    if (!dst || !m || !/^[0-9A-Fa-f]{8}$/.test(dst) || !/^[0-9A-Fa-f]{8}$/.test(m)) continue;
    const le = (hex: string): number => Buffer.from(hex, 'hex').readUInt32LE(0);
    const maskN = le(m);
    let prefix = 0;
    while (prefix < 32 && ((maskN << prefix) & 0x80000000) !== 0) prefix++;
    out.push({ base: le(dst), prefix });
  }
  return out;
}

/** `ip -j route` entries: dst is "default", "a.b.c.d" (a /32) or "a.b.c.d/n". */
export function parseIpRouteJson(text: string): Subnet[] {
  let rows: unknown;
  try {
    rows = JSON.parse(text);
  } catch {
    return [];
  }
  if (!Array.isArray(rows)) return [];
  const out: Subnet[] = [];
  for (const row of rows) {
    const dst = (row as { dst?: unknown } | null)?.dst;
    if (typeof dst !== 'string' || dst === 'default') continue;
    const [addr, len] = dst.split('/');
    const base = parseIPv4(addr ?? '');
    const prefix = len === undefined ? 32 : Number(len);
    if (base !== undefined && prefix >= 0 && prefix <= 32) out.push({ base, prefix });
  }
  return out;
}
