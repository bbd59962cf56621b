import * as fs from 'node:fs';
import * as path from 'node:path';
import { BerthError } from '@berth/oci';
import type { DeviceNode } from '../init/config.js';
import type { IdMapping } from '../launch/userns.js';
import { DEFAULT_DEVICE_RULES } from '../cgroups/devices.js';
import { normaliseCapability } from '../security/capabilities.js';
import { RLIMITS } from '../security/rlimits.js';
import { resolveSeccompProfile } from '../security/seccomp.js';
import type { DockerSeccompProfile, DockerSeccompRule } from '../security/seccomp.js';
import type { ContainerSpec, MountSpec, NamespaceKind, ResourceSpec } from '../spec/types.js';
import { checkHooks } from './hooks.js';
import type { OciHooks } from './hooks.js';

/**
 * A runtime-spec bundle (`config.json` + root filesystem, as engines hand it to
 * `berth-runtime create`) mapped onto berth's own ContainerSpec. Every field berth
 * cannot honour is refused here with one line naming it (code EUNSUPPORTED or
 * EINVAL_ARGUMENT), before anything is created: nothing is silently ignored.
 */

/** The parts of runtime-spec's config.json berth reads (everything else is checked against KNOWN_* below). */
export interface OciConfig {
  ociVersion: string;
  root?: { path: string; readonly?: boolean };
  process?: OciProcess;
  hostname?: string;
  domainname?: string;
  mounts?: OciMount[];
  hooks?: unknown;
  annotations?: Record<string, string>;
  linux?: OciLinux;
}

export interface OciProcess {
  terminal?: boolean;
  consoleSize?: { height: number; width: number };
  user: { uid: number; gid: number; umask?: number; additionalGids?: number[]; username?: string };
  args?: string[];
  commandLine?: string;
  env?: string[];
  cwd: string;
  capabilities?: Partial<Record<'bounding' | 'effective' | 'permitted' | 'inheritable' | 'ambient', string[]>>;
  rlimits?: Array<{ type: string; soft: number; hard: number }>;
  noNewPrivileges?: boolean;
  apparmorProfile?: string;
  oomScoreAdj?: number;
  selinuxLabel?: string;
  ioPriority?: unknown;
  scheduler?: unknown;
  execCPUAffinity?: unknown;
}

export interface OciMount {
  destination: string;
  type?: string;
  source?: string;
  options?: string[];
  uidMappings?: unknown[];
  gidMappings?: unknown[];
}

export interface OciLinux {
  namespaces?: Array<{ type: string; path?: string }>;
  uidMappings?: unknown[];
  gidMappings?: unknown[];
  devices?: Array<{ path: string; type: string; major?: number; minor?: number; fileMode?: number; uid?: number; gid?: number }>;
  cgroupsPath?: string;
  resources?: OciResources;
  sysctl?: Record<string, string>;
  seccomp?: OciSeccomp;
  rootfsPropagation?: string;
  maskedPaths?: string[];
  readonlyPaths?: string[];
  mountLabel?: string;
  intelRdt?: unknown;
  personality?: unknown;
  timeOffsets?: unknown;
}

export interface OciResources {
  devices?: Array<{ allow: boolean; type?: string; major?: number | null; minor?: number | null; access?: string }>;
  memory?: { limit?: number; reservation?: number; swap?: number; kernel?: number; kernelTCP?: number; swappiness?: number; disableOOMKiller?: boolean; useHierarchy?: boolean; checkBeforeUpdate?: boolean };
  cpu?: { shares?: number; quota?: number; period?: number; realtimeRuntime?: number; realtimePeriod?: number; cpus?: string; mems?: string; idle?: number; burst?: number };
  pids?: { limit: number };
  blockIO?: unknown;
  hugepageLimits?: unknown[];
  network?: unknown;
  rdma?: unknown;
  unified?: Record<string, string>;
}

export interface OciSeccomp {
  defaultAction: string;
  defaultErrnoRet?: number;
  architectures?: string[];
  flags?: string[];
  listenerPath?: string;
  listenerMetadata?: string;
  syscalls?: Array<{ names: string[]; action: string; errnoRet?: number; args?: Array<{ index: number; value: number; valueTwo?: number; op: string }> }>;
}

/** What `create` needs besides the ContainerSpec: facts the init and the cgroup take separately. */
export interface BundleSpec {
  spec: ContainerSpec;
  /** Extra device nodes (linux.devices) on top of berth's default ones. */
  devices: DeviceNode[];
  /** A cgroup namespace for the init (asked for, or implied by a /sys/fs/cgroup mount). */
  cgroupNamespace: boolean;
  /** Mount the cgroup file system at /sys/fs/cgroup. */
  cgroupMount: boolean;
  /** cgroupsPath split for the cgroup manager: parent (relative) and leaf name. */
  cgroup: { parent: string; name: string } | null;
  sysctl: Record<string, string>;
  oomScoreAdj: number | undefined;
  annotations: Record<string, string>;
  /** process.terminal: a pty as the process's terminal (sent to --console-socket, or relayed by a foreground run). */
  terminal: boolean;
  /** process.consoleSize, applied to the pty. */
  consoleSize: { height: number; width: number } | undefined;
  /** Namespaces joined by path (pid among them: the spawner's). */
  joinNamespaces: Array<{ type: NamespaceKind; path: string }>;
  /** config.json's hooks, validated (only the non-empty lists). */
  hooks: OciHooks;
  /** The cgroup's resources not in the ContainerSpec (extra device rules, cpu shares). */
  cgroupExtras: Pick<OciResourceSpec, 'extraDeviceRules' | 'cpuShares'>;
  /** linux.namespaces type user: a new one with these maps, or one joined by `path` (no maps). */
  userNamespace: { path?: string; uidMappings: IdMapping[]; gidMappings: IdMapping[] } | null;
}

const unsupported = (what: string): BerthError => new BerthError('EUNSUPPORTED', `${what} is not supported by berth-runtime`);
const invalid = (what: string): BerthError => new BerthError('EINVAL_ARGUMENT', `config.json: ${what}`);

/** Reads and parses `<bundle>/config.json`. */
export function readBundleConfig(bundle: string): OciConfig {
  const file = path.join(bundle, 'config.json');
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw BerthError.wrap(`read bundle config ${file}`, err, 'EINVAL_ARGUMENT');
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new BerthError('EINVAL_ARGUMENT', `read bundle config ${file}: invalid JSON: ${(err as Error).message}`, { cause: err });
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw invalid('not a JSON object');
  const cfg = value as OciConfig;
  if (typeof cfg.ociVersion !== 'string' || !cfg.ociVersion.startsWith('1.')) throw invalid(`ociVersion ${JSON.stringify(cfg.ociVersion)}: berth-runtime reads 1.x`);
  return cfg;
}

/** The standard mounts berth's init makes itself (with berth's options), by destination and the types accepted there. */
const STANDARD_MOUNTS: Record<string, readonly string[]> = {
  '/proc': ['proc'],
  '/dev': ['tmpfs'],
  '/dev/pts': ['devpts'],
  '/dev/shm': ['tmpfs'],
  '/dev/mqueue': ['mqueue'],
  '/sys': ['sysfs'],
  '/sys/fs/cgroup': ['cgroup', 'cgroup2'],
};

const NAMESPACES: Record<string, NamespaceKind> = {
  pid: 'pid',
  mount: 'mount',
  uts: 'uts',
  ipc: 'ipc',
  network: 'network',
  cgroup: 'cgroup',
};

const MOUNT_OPTIONS = new Set([
  'ro', 'rw', 'nosuid', 'suid', 'nodev', 'dev', 'noexec', 'exec', 'bind', 'rbind', 'noatime', 'atime', 'nodiratime', 'diratime',
  'relatime', 'norelatime', 'strictatime', 'nostrictatime', 'private', 'rprivate', 'slave', 'rslave', 'shared', 'rshared',
]);
const TMPFS_DATA = /^(size|mode|nr_inodes|nr_blocks|uid|gid)=[0-9A-Za-z%]+$/;

/** Namespaced sysctls a container may set (runc's list): net.* needs its own network namespace. */
function checkSysctl(key: string, ns: ReadonlySet<NamespaceKind>): void {
  if (!/^[a-z0-9_]+(\.[A-Za-z0-9_-]+)+$/.test(key)) throw invalid(`linux.sysctl ${JSON.stringify(key)}: not a sysctl name`);
  const ipc = /^(kernel\.(msgmax|msgmnb|msgmni|sem|shmall|shmmax|shmmni|shm_rmid_forced)|fs\.mqueue\.)/.test(key);
  if (ipc) {
    if (!ns.has('ipc')) throw invalid(`linux.sysctl ${key}: needs an ipc namespace`);
    return;
  }
  if (key.startsWith('net.')) {
    if (!ns.has('network')) throw invalid(`linux.sysctl ${key}: needs a network namespace`);
    return;
  }
  if (key === 'kernel.hostname' || key === 'kernel.domainname') throw invalid(`linux.sysctl ${key}: set hostname/domainname instead`);
  throw invalid(`linux.sysctl ${key}: not a namespaced sysctl (refused: it would change the host)`);
}

function mapMount(m: OciMount, i: number, bundle: string): MountSpec | 'standard' {
  const where = `mounts[${i}] (${m.destination})`;
  if (typeof m.destination !== 'string' || !m.destination.startsWith('/')) throw invalid(`${where}: destination must be an absolute path`);
  if (m.uidMappings !== undefined || m.gidMappings !== undefined) throw unsupported(`${where}: idmapped mounts`);
  const options = m.options ?? [];
  const isBind = m.type === 'bind' || options.includes('bind') || options.includes('rbind');
  const dest = path.posix.normalize(m.destination).replace(/\/+$/, '') || '/';
  const standard = STANDARD_MOUNTS[dest];
  if (!isBind && standard !== undefined) {
    if (m.type === undefined || !standard.includes(m.type)) throw unsupported(`${where}: type ${m.type ?? '(none)'} at ${dest}`);
    return 'standard';
  }
  if (dest === '/proc' || dest.startsWith('/proc/')) throw unsupported(`${where}: mounts over /proc`);
  if (isBind) {
    if (typeof m.source !== 'string' || m.source === '') throw invalid(`${where}: a bind mount needs a source`);
    const source = path.resolve(bundle, m.source);
    const opts: string[] = [];
    let rec = false;
    for (const o of options) {
      if (o === 'rbind') rec = true;
      if (!MOUNT_OPTIONS.has(o)) throw unsupported(`${where}: bind mount option ${JSON.stringify(o)}`);
      if (o !== 'bind' && o !== 'rbind') opts.push(o);
    }
    return { destination: dest, type: 'bind', source, options: [rec ? 'rbind' : 'bind', ...opts] };
  }
  if (m.type === 'tmpfs') {
    for (const o of options) {
      if (!MOUNT_OPTIONS.has(o) && !TMPFS_DATA.test(o)) throw unsupported(`${where}: tmpfs option ${JSON.stringify(o)}`);
    }
    return { destination: dest, type: 'tmpfs', source: 'tmpfs', options: [...options] };
  }
  throw unsupported(`${where}: mounts of type ${m.type ?? '(none)'}`);
}

function mapDevices(list: NonNullable<OciLinux['devices']>): DeviceNode[] {
  return list.map((d, i) => {
    const where = `linux.devices[${i}] (${d.path})`;
    if (typeof d.path !== 'string' || !d.path.startsWith('/dev/') || d.path.split('/').includes('..')) throw invalid(`${where}: path must be under /dev`);
    if (d.type !== 'c' && d.type !== 'u' && d.type !== 'b') throw unsupported(`${where}: device type ${JSON.stringify(d.type)}`);
    if (!Number.isInteger(d.major) || !Number.isInteger(d.minor)) throw invalid(`${where}: major and minor are required`);
    return {
      name: d.path.slice('/dev/'.length),
      kind: d.type === 'b' ? 'block' : 'char',
      major: d.major as number,
      minor: d.minor as number,
      mode: d.fileMode ?? 0o666,
      uid: d.uid ?? 0,
      gid: d.gid ?? 0,
    };
  });
}

/** linux.resources mapped: berth's ResourceSpec plus what only the cgroup takes (engines' extras). */
export interface OciResourceSpec extends ResourceSpec {
  /** Allow rules beyond docker's default list (containerd's /dev/console, "c 5:1 rwm"). */
  extraDeviceRules?: string[];
  cpuShares?: number;
}

/**
 * linux.resources.devices → berth's device policies: everything (one allow-all rule), or a
 * deny-all rule followed by allows, which berth applies on top of docker's default list (as
 * runc applies them on top of its own defaults, the nodes it creates).
 */
function mapDeviceRules(rules: NonNullable<OciResources['devices']>): { devices: ResourceSpec['devices']; extra: string[] } {
  const norm = rules.map((r, i) => {
    const type = r.type ?? 'a';
    const major = r.major === undefined || r.major === null || r.major < 0 ? '*' : String(r.major);
    const minor = r.minor === undefined || r.minor === null || r.minor < 0 ? '*' : String(r.minor);
    const access = r.access ?? 'rwm';
    if (!['a', 'b', 'c'].includes(type) || !/^[rwm]{1,3}$/.test(access)) throw invalid(`linux.resources.devices[${i}]: type ${JSON.stringify(type)} access ${JSON.stringify(access)}`);
    const all = type === 'a' && major === '*' && minor === '*' && access.length === 3 && new Set(access).size === 3;
    return { allow: r.allow, all, rule: all ? 'a' : `${type} ${major}:${minor} ${access}` };
  });
  if (norm.length === 0) return { devices: 'default', extra: [] };
  if (norm.length === 1 && norm[0]?.allow === true && norm[0].all) return { devices: 'all', extra: [] };
  const [first, ...rest] = norm;
  if (first === undefined || first.allow || !first.all) throw unsupported('linux.resources.devices not starting with a deny-all rule');
  const defaults = new Set(DEFAULT_DEVICE_RULES);
  const extra: string[] = [];
  for (const r of rest) {
    if (r.allow && r.all) return { devices: 'all', extra: [] };
    if (!r.allow || r.rule.startsWith('a ')) throw unsupported(`linux.resources.devices rule "${r.allow ? 'allow' : 'deny'} ${r.rule}" (berth takes a deny-all rule followed by allows of char or block devices)`);
    if (!defaults.has(r.rule) && !extra.includes(r.rule)) extra.push(r.rule);
  }
  return { devices: 'default', extra };
}

/** linux.resources → berth's ResourceSpec (plus the cgroup-only extras), refusing what it cannot apply. */
export function mapResources(r: OciResources | undefined): OciResourceSpec {
  const d = r?.devices === undefined ? { devices: 'default' as const, extra: [] } : mapDeviceRules(r.devices);
  const out: OciResourceSpec = { devices: d.devices };
  if (d.extra.length > 0) out.extraDeviceRules = d.extra;
  if (r === undefined) return out;
  for (const k of ['blockIO', 'hugepageLimits', 'network', 'rdma', 'unified'] as const) {
    if (r[k] !== undefined && !(Array.isArray(r[k]) && (r[k] as unknown[]).length === 0)) throw unsupported(`linux.resources.${k}`);
  }
  if (r.memory !== undefined) {
    const { limit, swap, ...rest } = r.memory;
    for (const [k, v] of Object.entries(rest)) if (v !== undefined) throw unsupported(`linux.resources.memory.${k}`);
    if (limit !== undefined && limit > 0) out.memory = limit;
    if (swap !== undefined && swap !== 0) out.memorySwap = swap;
  }
  if (r.cpu !== undefined) {
    const { quota, period, shares, ...rest } = r.cpu;
    for (const [k, v] of Object.entries(rest)) if (v !== undefined && v !== '' && v !== 0) throw unsupported(`linux.resources.cpu.${k}`);
    if (quota !== undefined && quota > 0) {
      if (period !== undefined && period !== 100000) throw unsupported(`linux.resources.cpu.period ${period} (berth uses 100000 µs)`);
      out.cpus = quota / 100000;
    }
    if (shares !== undefined && shares !== 0) {
      if (!Number.isInteger(shares) || shares < 2 || shares > 262144) throw invalid(`linux.resources.cpu.shares ${shares}: expected 2 to 262144`);
      out.cpuShares = shares;
    }
  }
  if (r.pids !== undefined && r.pids.limit > 0) out.pidsLimit = r.pids.limit;
  return out;
}

function mapSeccomp(s: OciSeccomp, capabilities: readonly string[]): ContainerSpec['seccomp'] {
  if (s.flags !== undefined && s.flags.length > 0) throw unsupported(`linux.seccomp.flags ${s.flags.join(',')}`);
  if (s.listenerPath !== undefined && s.listenerPath !== '') throw unsupported('linux.seccomp.listenerPath (seccomp notify)');
  // runtime-spec's format is docker's without the conditional parts (includes/excludes):
  // the same resolver validates it and picks the architectures.
  const profile: DockerSeccompProfile = { defaultAction: s.defaultAction, syscalls: (s.syscalls ?? []).map((r) => ({ ...r, args: (r.args ?? null) as DockerSeccompRule['args'] })) };
  // (the cast: the resolver validates every operator name)
  if (s.defaultErrnoRet !== undefined) profile.defaultErrnoRet = s.defaultErrnoRet;
  if (s.architectures !== undefined) profile.architectures = s.architectures;
  return resolveSeccompProfile(profile, { capabilities });
}

function caps(list: string[] | undefined, what: string): string[] {
  return (list ?? []).map((c) => {
    try {
      return normaliseCapability(c);
    } catch (err) {
      throw BerthError.wrap(`config.json: process.capabilities.${what}`, err, 'EINVAL_ARGUMENT');
    }
  });
}

/** Maps a bundle's config onto a ContainerSpec, refusing what berth cannot honour. */
export function bundleToSpec(cfg: OciConfig, bundle: string): BundleSpec {
  const known = new Set(['ociVersion', 'root', 'process', 'hostname', 'domainname', 'mounts', 'hooks', 'annotations', 'linux']);
  for (const k of Object.keys(cfg)) if (!known.has(k)) throw unsupported(`config.json: ${k}`);
  if (cfg.root === undefined || typeof cfg.root.path !== 'string') throw invalid('root.path is required');
  const p = cfg.process;
  if (p === undefined) throw invalid('process is required');
  if (!Array.isArray(p.args) || p.args.length === 0) throw invalid('process.args must not be empty');
  if (p.commandLine !== undefined) throw unsupported('process.commandLine (Windows)');
  for (const k of ['ioPriority', 'scheduler', 'execCPUAffinity', 'selinuxLabel', 'apparmorProfile'] as const) {
    if (p[k] !== undefined && p[k] !== '') throw unsupported(`process.${k}`);
  }
  if (typeof p.cwd !== 'string' || !p.cwd.startsWith('/')) throw invalid('process.cwd must be an absolute path');
  if (p.user === undefined || !Number.isInteger(p.user.uid) || !Number.isInteger(p.user.gid)) throw invalid('process.user.uid and gid are required');
  if (p.user.umask !== undefined && p.user.umask !== 0o022) throw unsupported(`process.user.umask ${p.user.umask.toString(8)} (berth sets 022)`);
  const size = p.consoleSize;
  if (size !== undefined && (!Number.isInteger(size.height) || !Number.isInteger(size.width) || size.height < 0 || size.width < 0)) throw invalid('process.consoleSize needs height and width');
  if (cfg.domainname !== undefined && cfg.domainname !== '') throw unsupported('domainname');
  const hooks = checkHooks(cfg.hooks);

  const linux = cfg.linux ?? {};
  const knownLinux = new Set(['namespaces', 'devices', 'cgroupsPath', 'resources', 'sysctl', 'seccomp', 'rootfsPropagation', 'maskedPaths', 'readonlyPaths', 'mountLabel', 'uidMappings', 'gidMappings', 'intelRdt', 'personality', 'timeOffsets']);
  for (const k of Object.keys(linux)) if (!knownLinux.has(k)) throw unsupported(`linux.${k}`);
  const uidMappings = idMappings(linux.uidMappings, 'uidMappings');
  const gidMappings = idMappings(linux.gidMappings, 'gidMappings');
  for (const k of ['intelRdt', 'personality', 'timeOffsets'] as const) if (linux[k] !== undefined) throw unsupported(`linux.${k}`);
  if (linux.mountLabel !== undefined && linux.mountLabel !== '') throw unsupported('linux.mountLabel (SELinux)');
  if (linux.rootfsPropagation !== undefined && !['', 'slave', 'rslave'].includes(linux.rootfsPropagation)) {
    throw unsupported(`linux.rootfsPropagation ${linux.rootfsPropagation} (berth makes the root rslave)`);
  }

  const namespaces: NamespaceKind[] = [];
  const joinNamespaces: BundleSpec['joinNamespaces'] = [];
  let userNamespace: BundleSpec['userNamespace'] = null;
  for (const n of linux.namespaces ?? []) {
    const joining = n.path !== undefined && n.path !== '';
    // A user namespace is the single-threaded helper's (launch/userns.ts), made or joined before the init's Node starts.
    if (n.type === 'user') {
      if (userNamespace !== null) throw invalid('linux.namespaces: user given twice');
      if (joining && (typeof n.path !== 'string' || !n.path.startsWith('/'))) throw invalid('linux.namespaces user: path must be absolute');
      userNamespace = joining ? { path: n.path as string, uidMappings: [], gidMappings: [] } : { uidMappings, gidMappings };
      continue;
    }
    // The init is a Node process, multithreaded from its start: a mount namespace is per process (fs_struct) state.
    if (joining && n.type === 'mount') {
      throw unsupported(
        "linux.namespaces mount with a path (joining an existing mount namespace): berth-runtime's init is a multithreaded Node process, which sets its root up in a mount namespace of its own",
      );
    }
    const kind = NAMESPACES[n.type];
    if (kind === undefined) throw unsupported(`linux.namespaces type ${JSON.stringify(n.type)}`);
    if (namespaces.includes(kind)) throw invalid(`linux.namespaces: ${n.type} given twice`);
    namespaces.push(kind);
    if (joining) {
      if (typeof n.path !== 'string' || !n.path.startsWith('/')) throw invalid(`linux.namespaces ${n.type}: path must be absolute`);
      joinNamespaces.push({ type: kind, path: n.path });
    }
  }
  const joined = new Set(joinNamespaces.map((j) => j.type));
  if (userNamespace === null && (uidMappings.length > 0 || gidMappings.length > 0)) throw invalid('linux.uidMappings/gidMappings need a user namespace in linux.namespaces');
  if (userNamespace?.path !== undefined && (uidMappings.length > 0 || gidMappings.length > 0)) {
    throw invalid('linux.uidMappings/gidMappings are for a new user namespace, not one joined by path');
  }
  if (userNamespace !== null && userNamespace.path === undefined && (uidMappings.length === 0 || gidMappings.length === 0)) {
    throw invalid('a new user namespace needs linux.uidMappings and linux.gidMappings');
  }
  if (!namespaces.includes('mount')) throw unsupported('a container without its own mount namespace');
  const ns = new Set(namespaces);
  if (cfg.hostname !== undefined && cfg.hostname !== '' && !ns.has('uts')) throw invalid('hostname needs a uts namespace');

  const mounts: MountSpec[] = [];
  let cgroupMount = false;
  (cfg.mounts ?? []).forEach((m, i) => {
    const r = mapMount(m, i, bundle);
    if (r === 'standard') {
      if (m.destination.replace(/\/+$/, '') === '/sys/fs/cgroup') cgroupMount = true;
    } else {
      mounts.push(r);
    }
  });
  // A new user namespace owns none of the namespaces given by path: the kernel lets its root mount
  // no proc for a pid namespace, and no cgroup fs for a cgroup namespace, it does not own.
  if (userNamespace !== null && userNamespace.path === undefined) {
    if (joined.has('pid')) throw unsupported('linux.namespaces pid with a path and a new user namespace (its root may not mount /proc for a pid namespace it does not own)');
    if (joined.has('cgroup') && cgroupMount) {
      throw unsupported('linux.namespaces cgroup with a path, a new user namespace and a /sys/fs/cgroup mount (its root may not mount the cgroup fs of a cgroup namespace it does not own)');
    }
  }

  const sysctl = linux.sysctl ?? {};
  for (const [k, v] of Object.entries(sysctl)) {
    if (typeof v !== 'string') throw invalid(`linux.sysctl ${k}: value must be a string`);
    checkSysctl(k, ns);
  }

  for (const r of p.rlimits ?? []) {
    if (!(r.type in RLIMITS)) throw invalid(`process.rlimits: unknown type ${JSON.stringify(r.type)}`);
  }
  const bounding = caps(p.capabilities?.bounding, 'bounding');
  const { extraDeviceRules, cpuShares, ...resourceSpec } = mapResources(linux.resources);
  const resources: ResourceSpec = resourceSpec;
  const cgroupExtras: BundleSpec['cgroupExtras'] = {};
  if (extraDeviceRules !== undefined) cgroupExtras.extraDeviceRules = extraDeviceRules;
  if (cpuShares !== undefined) cgroupExtras.cpuShares = cpuShares;
  const spec: ContainerSpec = {
    version: 1,
    rootfs: path.resolve(bundle, cfg.root.path),
    process: {
      args: [...p.args],
      env: [...(p.env ?? [])],
      cwd: p.cwd,
      user: { uid: p.user.uid, gid: p.user.gid, additionalGids: [...(p.user.additionalGids ?? [])] },
      terminal: false,
      noNewPrivileges: p.noNewPrivileges === true,
      capabilities: {
        bounding,
        effective: caps(p.capabilities?.effective, 'effective'),
        permitted: caps(p.capabilities?.permitted, 'permitted'),
        inheritable: caps(p.capabilities?.inheritable, 'inheritable'),
        ambient: caps(p.capabilities?.ambient, 'ambient'),
      },
      rlimits: (p.rlimits ?? []).map((r) => ({ type: r.type, soft: r.soft, hard: r.hard })),
    },
    hostname: cfg.hostname ?? '',
    mounts,
    readonlyRootfs: cfg.root.readonly === true,
    network: ns.has('network') ? 'none' : 'host',
    namespaces,
    maskedPaths: [...(linux.maskedPaths ?? [])],
    readonlyPaths: [...(linux.readonlyPaths ?? [])],
    seccomp: linux.seccomp === undefined ? null : mapSeccomp(linux.seccomp, bounding),
    resources,
    init: false,
    privileged: false,
  };
  let cgroup: BundleSpec['cgroup'] = null;
  if (linux.cgroupsPath !== undefined && linux.cgroupsPath !== '') {
    if (linux.cgroupsPath.includes(':')) throw unsupported(`linux.cgroupsPath ${linux.cgroupsPath} (systemd slices; use the cgroupfs manager)`);
    const parts = linux.cgroupsPath.split('/').filter((s) => s !== '');
    const name = parts.pop();
    if (name === undefined || parts.includes('..') || name === '..') throw invalid(`linux.cgroupsPath ${linux.cgroupsPath}`);
    cgroup = { parent: parts.length === 0 ? 'berth-runtime' : parts.join('/'), name };
  }
  return {
    spec,
    devices: mapDevices(linux.devices ?? []),
    // A joined cgroup namespace is the init's setns, not a new one.
    cgroupNamespace: !joined.has('cgroup') && (ns.has('cgroup') || cgroupMount),
    cgroupMount,
    cgroup,
    sysctl: { ...sysctl },
    oomScoreAdj: p.oomScoreAdj,
    annotations: { ...(cfg.annotations ?? {}) },
    terminal: p.terminal === true,
    consoleSize: size,
    joinNamespaces,
    hooks,
    cgroupExtras,
    userNamespace,
  };
}

/** linux.uidMappings / gidMappings: containerID, hostID and size, non-negative integers (size > 0). */
function idMappings(raw: unknown[] | undefined, field: string): IdMapping[] {
  if (raw === undefined) return [];
  if (!Array.isArray(raw)) throw invalid(`linux.${field} must be a list`);
  return raw.map((m, i) => {
    const e = m as Partial<Record<keyof IdMapping, unknown>>;
    const n = (v: unknown): v is number => Number.isInteger(v) && (v as number) >= 0 && (v as number) <= 0xffffffff;
    if (typeof m !== 'object' || m === null || !n(e.containerID) || !n(e.hostID) || !n(e.size) || e.size === 0) {
      throw invalid(`linux.${field}[${i}] needs containerID, hostID and size (non-negative integers, size > 0)`);
    }
    return { containerID: e.containerID, hostID: e.hostID, size: e.size };
  });
}
