import { availableParallelism } from 'node:os';
import path from 'node:path';
import { BerthError } from '@berth/oci';
import type { MountSpec } from './types.js';

/** Docker's lower bound for --memory (6 MiB). */
export const MIN_MEMORY = 6 * 1024 * 1024;

function invalid(flag: string, value: unknown, why: string): never {
  throw new BerthError('EINVAL_ARGUMENT', `invalid ${flag} "${String(value)}": ${why}`, { details: { flag, value } });
}

const UNITS: Record<string, number> = { '': 1, k: 2 ** 10, m: 2 ** 20, g: 2 ** 30, t: 2 ** 40, p: 2 ** 50 };

/**
 * A docker size (`RAMInBytes`): a number with an optional binary unit,
 * case-insensitive, optional `i`/`b` suffix: `512m`, `1g`, `1.5G`, `64MiB`,
 * `100` (bytes).
 */
export function parseBytes(text: string, flag = '--memory'): number {
  const m = /^(\d+(?:\.\d+)?) ?([kmgtp])?i?b?$/i.exec(text.trim());
  if (!m) return invalid(flag, text, 'expected a size like 512m or 1g');
  const unit = UNITS[(m[2] ?? '').toLowerCase()] ?? 1;
  const bytes = Math.floor(Number(m[1]) * unit);
  if (!Number.isSafeInteger(bytes)) return invalid(flag, text, 'too large');
  return bytes;
}

/** `-m`: a size of at least 6 MiB. */
export function parseMemory(text: string): number {
  const bytes = parseBytes(text, '--memory');
  if (bytes < MIN_MEMORY) invalid('--memory', text, 'the minimum memory limit is 6MB');
  return bytes;
}

/** `--memory-swap`: memory+swap in bytes, or -1 for unlimited swap; needs `-m` and must be at least it. */
export function parseMemorySwap(text: string, memory: number | undefined): number {
  if (memory === undefined) invalid('--memory-swap', text, 'set --memory as well');
  if (text.trim() === '-1') return -1;
  const bytes = parseBytes(text, '--memory-swap');
  if (bytes < memory) invalid('--memory-swap', text, 'must be at least the --memory limit');
  return bytes;
}

/** `--cpus`: a decimal number of CPUs from 0.01 up to the host's count. */
export function parseCpus(text: string, hostCpus: number = availableParallelism()): number {
  if (!/^\d+(?:\.\d+)?$/.test(text.trim())) return invalid('--cpus', text, 'expected a number like 1.5');
  const cpus = Number(text);
  if (cpus < 0.01 || cpus > hostCpus) {
    invalid('--cpus', text, `the range of CPUs is from 0.01 to ${hostCpus.toFixed(2)}, as there are only ${hostCpus} CPUs available`);
  }
  return cpus;
}

/** `--pids-limit`: a positive number; 0 or -1 mean unlimited (undefined). */
export function parsePidsLimit(value: string | number): number | undefined {
  const text = String(value).trim();
  if (!/^-?\d+$/.test(text)) return invalid('--pids-limit', value, 'expected an integer');
  const n = Number(text);
  if (n === 0 || n === -1) return undefined;
  if (n < -1 || !Number.isSafeInteger(n)) return invalid('--pids-limit', value, 'expected a positive integer, or -1 for unlimited');
  return n;
}

function containerPath(flag: string, spec: string, p: string): string {
  if (!p.startsWith('/')) invalid(flag, spec, `the container path "${p}" is not absolute`);
  const clean = path.posix.normalize(p).replace(/\/+$/, '') || '/';
  if (clean === '/') invalid(flag, spec, 'cannot mount over the container root "/"');
  return clean;
}

/**
 * `-v HOST:CONTAINER[:opts]`: a bind mount of an absolute host path; opts are
 * `ro`/`rw` (and the SELinux `z`/`Z` and propagation flags, accepted and
 * ignored). Named and anonymous volumes are not supported. A missing host
 * directory is created when the container is (docker's -v does the same).
 */
export function parseVolume(spec: string): MountSpec {
  const parts = spec.split(':');
  if (parts.length < 2 || parts.length > 3) invalid('--volume', spec, 'expected HOST:CONTAINER[:ro|rw]');
  const [host = '', dest = '', opts = ''] = parts;
  if (!host.startsWith('/')) invalid('--volume', spec, `named volumes are not supported, the host path "${host}" must be absolute`);
  const destination = containerPath('--volume', spec, dest);
  let readonly = false;
  for (const o of opts.split(',').filter((x) => x !== '')) {
    if (o === 'ro') readonly = true;
    else if (o === 'rw') readonly = false;
    else if (!['z', 'Z', 'private', 'rprivate', 'shared', 'rshared', 'slave', 'rslave', 'nocopy'].includes(o)) {
      invalid('--volume', spec, `unknown option "${o}"`);
    }
  }
  return { destination, type: 'bind', source: path.resolve(host), options: ['rbind', readonly ? 'ro' : 'rw'], createSource: true };
}

const TMPFS_FLAGS = new Set(['ro', 'rw', 'exec', 'noexec', 'suid', 'nosuid', 'dev', 'nodev', 'atime', 'noatime', 'relatime', 'strictatime', 'nodiratime']);
const TMPFS_VALUES = new Set(['size', 'mode', 'uid', 'gid', 'nr_inodes', 'nr_blocks']);

/**
 * `--tmpfs /path[:opts]`: docker's defaults `noexec,nosuid,nodev`, each undone
 * by `exec`/`suid`/`dev`; `size=`, `mode=`, `uid=`, `gid=`, `nr_inodes=` pass through.
 */
export function parseTmpfs(spec: string): MountSpec {
  const colon = spec.indexOf(':');
  const dest = colon < 0 ? spec : spec.slice(0, colon);
  const opts = colon < 0 ? [] : spec.slice(colon + 1).split(',').filter((o) => o !== '');
  const destination = containerPath('--tmpfs', spec, dest);
  const flags = new Set(['noexec', 'nosuid', 'nodev']);
  const rest: string[] = [];
  for (const o of opts) {
    const eq = o.indexOf('=');
    if (eq >= 0) {
      const key = o.slice(0, eq);
      const value = o.slice(eq + 1);
      if (!TMPFS_VALUES.has(key) || !/^[0-9A-Za-z]+$/.test(value)) invalid('--tmpfs', spec, `unsupported option "${o}"`);
      rest.push(key === 'size' ? `size=${parseBytes(value, '--tmpfs')}` : o);
      continue;
    }
    if (!TMPFS_FLAGS.has(o)) invalid('--tmpfs', spec, `unsupported option "${o}"`);
    if (o === 'exec' || o === 'suid' || o === 'dev') flags.delete(`no${o}`);
    else if (o === 'noexec' || o === 'nosuid' || o === 'nodev') flags.add(o);
    else rest.push(o);
  }
  return { destination, type: 'tmpfs', source: 'tmpfs', options: [...flags, ...rest] };
}

/**
 * An `--env-file` (docker's format): one `KEY=value` per line, the value taken
 * verbatim (no quotes processing); `KEY` alone takes the host's value (dropped
 * when unset); blank lines and `#` comments skipped.
 */
export function parseEnvFile(text: string, file: string, hostEnv: Record<string, string | undefined>): string[] {
  const out: string[] = [];
  const lines = text.replace(/^\uFEFF/, '').split(/\r?\n/);
  lines.forEach((raw, i) => {
    const line = raw.replace(/^\s+/, '');
    if (line === '' || line.startsWith('#')) return;
    const eq = line.indexOf('=');
    const key = eq < 0 ? line : line.slice(0, eq);
    if (key === '') throw new BerthError('EINVAL_ARGUMENT', `invalid --env-file ${file}: line ${i + 1}: no variable name`);
    if (/\s/.test(key)) throw new BerthError('EINVAL_ARGUMENT', `invalid --env-file ${file}: line ${i + 1}: variable '${key}' contains whitespaces`);
    if (eq >= 0) out.push(line);
    else if (hostEnv[key] !== undefined) out.push(`${key}=${hostEnv[key]}`);
  });
  return out;
}

export interface SecurityOptions {
  seccomp: { kind: 'default' } | { kind: 'unconfined' } | { kind: 'file'; path: string };
  noNewPrivileges: boolean;
  /** `systempaths=unconfined`: no masked or read-only /proc and /sys paths. */
  systemPathsUnconfined: boolean;
}

/** `--security-opt` values: `key=value` (or docker's legacy `key:value`). */
export function parseSecurityOpts(opts: readonly string[]): SecurityOptions {
  const out: SecurityOptions = { seccomp: { kind: 'default' }, noNewPrivileges: false, systemPathsUnconfined: false };
  for (const opt of opts) {
    if (opt === 'no-new-privileges') {
      out.noNewPrivileges = true;
      continue;
    }
    const m = /^([a-z-]+)[=:](.*)$/.exec(opt);
    if (!m) invalid('--security-opt', opt, 'expected key=value');
    const key = m[1] as string;
    const value = m[2] as string;
    switch (key) {
      case 'seccomp':
        if (value === 'unconfined') out.seccomp = { kind: 'unconfined' };
        else if (value === '') invalid('--security-opt', opt, 'empty seccomp profile');
        else out.seccomp = { kind: 'file', path: value };
        break;
      case 'no-new-privileges':
        if (value !== 'true' && value !== 'false') invalid('--security-opt', opt, 'expected true or false');
        out.noNewPrivileges = value === 'true';
        break;
      case 'systempaths':
        if (value !== 'unconfined') invalid('--security-opt', opt, 'the only value is unconfined');
        out.systemPathsUnconfined = true;
        break;
      case 'apparmor':
      case 'label':
        // No LSM support in berth: accepted (scripts pass apparmor=unconfined) and ignored.
        break;
      default:
        invalid('--security-opt', opt, `unknown option "${key}"`);
    }
  }
  return out;
}
