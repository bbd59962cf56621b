import { readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { BerthError } from '@berth/oci';
import type { ImageConfig } from '@berth/oci';
import { resolveCapabilities } from '../security/capabilities.js';
import { parseUlimit } from '../security/rlimits.js';
import { defaultSeccompProfile, parseDockerSeccompProfile, resolveSeccompProfile } from '../security/seccomp.js';
import type { SeccompProfile } from '../security/seccomp-types.js';
import {
  parseCpus,
  parseEnvFile,
  parseMemory,
  parseMemorySwap,
  parsePidsLimit,
  parseSecurityOpts,
  parseTmpfs,
  parseVolume,
} from './parse.js';
import type { SecurityOptions } from './parse.js';
import { mergeEnv } from './env.js';
import { resolveGroups, resolveUser } from './user.js';
import type { ContainerSpec, MountSpec, NamespaceKind, ResourceSpec, RlimitSpec, RunOverrides } from './types.js';

/** Docker's PATH when the image sets none. */
export const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/** Docker's masked paths (moby oci/defaults.go). */
export const DEFAULT_MASKED_PATHS: readonly string[] = Object.freeze([
  '/proc/acpi',
  '/proc/asound',
  '/proc/interrupts',
  '/proc/kcore',
  '/proc/keys',
  '/proc/latency_stats',
  '/proc/sched_debug',
  '/proc/scsi',
  '/proc/timer_list',
  '/proc/timer_stats',
  '/sys/devices/virtual/powercap',
  '/sys/firmware',
]);

/** Docker's read-only paths. */
export const DEFAULT_READONLY_PATHS: readonly string[] = Object.freeze([
  '/proc/bus',
  '/proc/fs',
  '/proc/irq',
  '/proc/sys',
  '/proc/sysrq-trigger',
]);

export interface BuildSpecOptions {
  imageConfig: ImageConfig;
  /** Host path of the container's prepared root filesystem. */
  rootfs: string;
  overrides?: RunOverrides;
  /** The container's id: the default hostname is its first 12 characters (docker's). */
  containerId?: string;
  /** Where `-e KEY` and env-file `KEY` lines take values from (default: process.env). */
  hostEnv?: Record<string, string | undefined>;
  /** GOARCH for seccomp's architecture conditions (default: this machine's). */
  arch?: string;
  /** CPUs on the host, the upper bound of --cpus (default: os.availableParallelism()). */
  hostCpus?: number;
}

/**
 * The ContainerSpec for `berth run IMAGE [CMD…]` with docker's semantics:
 *
 * - args: Entrypoint + Cmd; trailing args replace Cmd; `--entrypoint X`
 *   replaces Entrypoint AND clears the image's Cmd; `--entrypoint ''` clears it;
 *   nothing to run → "no command specified";
 * - env: PATH (docker's default), HOSTNAME, TERM=xterm with -t; then the
 *   image's Env; then --env-file files, then -e (later keys replace earlier ones
 *   in place); HOME from the container's passwd if still unset;
 * - cwd: -w, else the image's WorkingDir, else /;
 * - user: -u, else the image's User, resolved in the container's passwd/group,
 *   plus --group-add groups;
 * - capabilities: docker's 14 with --cap-add/--cap-drop (ALL understood),
 *   every one with --privileged; inheritable and ambient empty (docker ≥ 23);
 * - seccomp: docker's default profile for those capabilities, a docker-format
 *   file with `--security-opt seccomp=FILE`, none with `seccomp=unconfined` or
 *   --privileged;
 * - docker's masked and read-only paths, lifted by --privileged or
 *   `--security-opt systempaths=unconfined`;
 * - network 'none' unless --network host (then the host's hostname unless -h).
 *
 * Reads the rootfs's /etc/passwd and /etc/group (contained in the rootfs),
 * env files and seccomp files; throws one-line EINVAL_ARGUMENT errors naming
 * the flag.
 */
export function buildSpec(options: BuildSpecOptions): ContainerSpec {
  const o = options.overrides ?? {};
  const config = options.imageConfig.config ?? {};
  const hostEnv = options.hostEnv ?? process.env;
  const { privileged, caps, sec, seccomp, network, mounts, resources, rlimits } = imageIndependentParts(o, options);

  const args = commandLine(config.Entrypoint ?? null, config.Cmd ?? null, o);
  const user =
    o.user !== undefined
      ? resolveUser({ rootfs: options.rootfs, user: o.user })
      : resolveUser({ rootfs: options.rootfs, user: config.User ?? '', source: 'image config User' });
  const additionalGids = [...new Set([...user.additionalGids, ...resolveGroups({ rootfs: options.rootfs, groups: o.groupAdd ?? [] })])];
  // docker: --network host shows the host's hostname (in the container's own UTS namespace).
  const defaultHostname = network === 'host' ? os.hostname() : options.containerId ? options.containerId.slice(0, 12) : 'berth';
  const hostname = checkHostname(o.hostname ?? defaultHostname);

  let env = [`PATH=${DEFAULT_PATH}`, `HOSTNAME=${hostname}`];
  if (o.tty) env.push('TERM=xterm');
  env = mergeEnv(env, (config.Env ?? []).filter((e): e is string => typeof e === 'string'));
  for (const file of o.envFile ?? []) env = mergeEnv(env, readEnvFile(file, hostEnv));
  env = mergeEnv(env, userEnv(o.env ?? [], hostEnv));
  if (!env.some((e) => e.startsWith('HOME='))) env.push(`HOME=${user.home}`);

  const cwd = workingDir(o.workdir, config.WorkingDir);
  const confined = !privileged && !sec.systemPathsUnconfined;
  const namespaces: NamespaceKind[] = ['pid', 'mount', 'uts', 'ipc'];
  if (network === 'none') namespaces.push('network');

  const spec: ContainerSpec = {
    version: 1,
    rootfs: path.resolve(options.rootfs),
    process: {
      args,
      env,
      cwd,
      user: { uid: user.uid, gid: user.gid, additionalGids },
      terminal: o.tty === true,
      noNewPrivileges: sec.noNewPrivileges,
      capabilities: { bounding: [...caps], effective: [...caps], permitted: [...caps], inheritable: [], ambient: [] },
      rlimits,
    },
    hostname,
    mounts,
    readonlyRootfs: o.readOnly === true,
    network,
    namespaces,
    maskedPaths: confined ? [...DEFAULT_MASKED_PATHS] : [],
    readonlyPaths: confined ? [...DEFAULT_READONLY_PATHS] : [],
    seccomp,
    resources,
    init: o.init === true,
    privileged,
  };
  if (config.StopSignal) spec.stopSignal = config.StopSignal;
  return spec;
}

/** Options of checkRunOverrides. */
export interface CheckRunOverridesOptions {
  /** GOARCH for seccomp's architecture conditions (default: this machine's). */
  arch?: string;
  /** CPUs on the host, the upper bound of --cpus (default: os.availableParallelism()). */
  hostCpus?: number;
}

/**
 * Checks the overrides that do not depend on the image (capabilities, security
 * options and a seccomp file, network, mounts, resources, ulimits, hostname, env
 * files), as
 * buildSpec would, and throws buildSpec's one-line EINVAL_ARGUMENT error naming
 * the flag. For callers that want bad flags refused before an image is pulled,
 * as docker does.
 */
export function checkRunOverrides(overrides: RunOverrides, options: CheckRunOverridesOptions = {}): void {
  imageIndependentParts(overrides, options);
  if (overrides.hostname !== undefined) checkHostname(overrides.hostname);
  for (const file of overrides.envFile ?? []) readEnvFile(file, {});
}

/** An `--env-file`'s variables; a file that cannot be read or parsed is a one-line EINVAL_ARGUMENT naming it. */
function readEnvFile(file: string, hostEnv: Record<string, string | undefined>): string[] {
  return parseEnvFile(readText(file, '--env-file'), file, hostEnv);
}

/** The parts of the spec that come from the overrides alone. */
function imageIndependentParts(o: RunOverrides, options: CheckRunOverridesOptions) {
  const privileged = o.privileged === true;
  const caps = resolveCapabilities({ capAdd: o.capAdd ?? [], capDrop: o.capDrop ?? [], privileged });
  const sec = parseSecurityOpts(o.securityOpt ?? []);
  const seccomp = seccompFor(sec, privileged, caps, options.arch);
  const network = o.network ?? 'none';
  if (network !== 'none' && network !== 'host') {
    throw new BerthError('EINVAL_ARGUMENT', `invalid --network "${String(network)}": berth supports none and host`, { details: { flag: '--network' } });
  }
  return {
    privileged,
    caps,
    sec,
    seccomp,
    network,
    mounts: mountsOf(o),
    resources: resourcesOf(o, privileged, options.hostCpus),
    rlimits: rlimitsOf(o.ulimit ?? []),
  };
}

function commandLine(entrypoint: Array<string | null> | null, cmd: Array<string | null> | null, o: RunOverrides): string[] {
  const clean = (a: Array<string | null> | null): string[] => (a ?? []).filter((s): s is string => typeof s === 'string');
  let ep = clean(entrypoint);
  let c = clean(cmd);
  if (o.entrypoint !== undefined) {
    ep = o.entrypoint === '' ? [] : [o.entrypoint];
    c = [];
  }
  if (o.cmd && o.cmd.length > 0) c = [...o.cmd];
  const args = [...ep, ...c];
  if (args.length === 0) throw new BerthError('EINVAL_ARGUMENT', 'run: no command specified');
  return args;
}


function userEnv(entries: readonly string[], hostEnv: Record<string, string | undefined>): string[] {
  const out: string[] = [];
  for (const e of entries) {
    const eq = e.indexOf('=');
    const key = eq < 0 ? e : e.slice(0, eq);
    if (key === '' || /\s/.test(key)) {
      throw new BerthError('EINVAL_ARGUMENT', `invalid --env "${e}": bad variable name`, { details: { flag: '--env', value: e } });
    }
    if (eq >= 0) out.push(e);
    else if (hostEnv[key] !== undefined) out.push(`${key}=${hostEnv[key]}`);
  }
  return out;
}

function workingDir(flag: string | undefined, image: string | undefined): string {
  if (flag !== undefined && flag !== '') {
    if (!flag.startsWith('/')) {
      throw new BerthError('EINVAL_ARGUMENT', `invalid --workdir "${flag}": the working directory must be an absolute path`, {
        details: { flag: '--workdir', value: flag },
      });
    }
    return path.posix.normalize(flag);
  }
  if (image) return path.posix.resolve('/', image);
  return '/';
}

function checkHostname(name: string): string {
  if (name.length > 64 || !/^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?$/.test(name)) {
    throw new BerthError('EINVAL_ARGUMENT', `invalid --hostname "${name}": expected letters, digits, dots and dashes (at most 64)`, {
      details: { flag: '--hostname', value: name },
    });
  }
  return name;
}

function readText(file: string, flag: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    throw BerthError.wrap(`read ${flag} ${file}`, err, 'EINVAL_ARGUMENT');
  }
}

function seccompFor(sec: SecurityOptions, privileged: boolean, caps: readonly string[], arch: string | undefined): SeccompProfile | null {
  if (privileged || sec.seccomp.kind === 'unconfined') return null;
  const resolve = arch === undefined ? { capabilities: caps } : { capabilities: caps, arch };
  if (sec.seccomp.kind === 'default') return defaultSeccompProfile(resolve);
  const file = sec.seccomp.path;
  const profile = parseDockerSeccompProfile(readText(file, '--security-opt seccomp'), `seccomp profile ${file}`);
  return resolveSeccompProfile(profile, resolve);
}

function mountsOf(o: RunOverrides): MountSpec[] {
  const mounts = [...(o.volumes ?? []).map(parseVolume), ...(o.tmpfs ?? []).map(parseTmpfs)];
  const seen = new Set<string>();
  for (const m of mounts) {
    if (seen.has(m.destination)) {
      throw new BerthError('EINVAL_ARGUMENT', `invalid mounts: duplicate mount point ${m.destination}`, { details: { destination: m.destination } });
    }
    seen.add(m.destination);
  }
  return mounts;
}

function rlimitsOf(ulimits: readonly string[]): RlimitSpec[] {
  const byType = new Map<string, RlimitSpec>();
  for (const u of ulimits) {
    const rl = parseUlimit(u);
    byType.set(rl.type, rl);
  }
  return [...byType.values()];
}

function resourcesOf(o: RunOverrides, privileged: boolean, hostCpus: number | undefined): ResourceSpec {
  const r: ResourceSpec = { devices: privileged ? 'all' : 'default' };
  if (o.memory !== undefined) r.memory = parseMemory(o.memory);
  if (o.memorySwap !== undefined) r.memorySwap = parseMemorySwap(o.memorySwap, r.memory);
  else if (r.memory !== undefined) r.memorySwap = r.memory * 2; // docker: as much swap as memory
  if (o.cpus !== undefined) r.cpus = parseCpus(o.cpus, hostCpus);
  if (o.pidsLimit !== undefined) {
    const p = parsePidsLimit(o.pidsLimit);
    if (p !== undefined) r.pidsLimit = p;
  }
  return r;
}
