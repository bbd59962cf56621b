/**
 * `run -v` and `--mount` as docker parses them, and what they become: bind mounts of host
 * directories for the runtime (a volume is its `_data` directory), `--tmpfs` specs, and docker's
 * `Mounts` for `inspect`. The image's `Volumes` get anonymous volumes unless a mount covers them.
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { BerthError } from '@berth/oci';
import { ANONYMOUS_LABEL, checkVolumeName, VolumeStore, type DockerMount, type MountRecord } from './volumes.js';

/** One mount asked for: a host path, a volume (a name; none: anonymous) or a tmpfs. */
export type MountRequest =
  | { type: 'bind'; source: string; target: string; readonly: boolean; createSource: boolean; mode: string; propagation: string }
  | { type: 'volume'; name?: string; target: string; readonly: boolean; nocopy: boolean; mode: string; labels: Record<string, string> }
  | { type: 'tmpfs'; target: string; readonly: boolean; size?: string; mode?: string };

function invalid(flag: string, spec: string, why: string): never {
  throw new BerthError('EINVAL_ARGUMENT', `invalid argument "${spec}" for "${flag}" flag: ${why}`, { details: { flag } });
}

function target(flag: string, spec: string, p: string): string {
  if (!p.startsWith('/')) invalid(flag, spec, `invalid mount path: '${p}' mount path must be absolute`);
  const clean = path.posix.normalize(p).replace(/\/+$/, '') || '/';
  if (clean === '/') invalid(flag, spec, 'invalid specification: destination can\'t be \'/\'');
  return clean;
}

const VOLUME_MODES = new Set(['ro', 'rw', 'z', 'Z', 'nocopy', 'private', 'rprivate', 'shared', 'rshared', 'slave', 'rslave']);

/**
 * `-v [SOURCE:]TARGET[:MODE]`: SOURCE absolute is a host path (made when missing, as docker's
 * -v does), a name is a named volume, none is an anonymous volume. MODE: ro, rw, nocopy, z/Z and
 * propagation (accepted).
 */
export function parseVolumeFlag(spec: string): MountRequest {
  const parts = spec.split(':');
  if (parts.some((p) => p === '') || parts.length > 3) invalid('--volume', spec, `invalid spec: ${spec}`);
  const [first = '', second, third] = parts;
  let source: string | undefined;
  let dest: string;
  let mode = '';
  if (parts.length === 1) dest = first;
  else {
    // docker: `/path:ro` is no volume ("destination + mode is not a valid volume").
    if (parts.length === 2 && (second ?? '').split(',').every((m) => VOLUME_MODES.has(m))) invalid('--volume', spec, `invalid spec: ${spec}`);
    source = first;
    dest = second ?? '';
    mode = third ?? '';
  }
  const modes = mode === '' ? [] : mode.split(',');
  for (const m of modes) if (!VOLUME_MODES.has(m)) invalid('--volume', spec, `invalid mode: ${mode}`);
  const readonly = modes.includes('ro');
  const targetPath = target('--volume', spec, dest);
  const propagation = modes.find((m) => /^r?(private|shared|slave)$/.test(m)) ?? 'rprivate';
  if (source !== undefined && source.startsWith('/')) {
    return { type: 'bind', source: path.resolve(source), target: targetPath, readonly, createSource: true, mode, propagation };
  }
  if (source !== undefined) checkVolumeName(source);
  return {
    type: 'volume',
    ...(source !== undefined ? { name: source } : {}),
    target: targetPath,
    readonly,
    nocopy: modes.includes('nocopy'),
    mode: mode === '' ? 'z' : mode,
    labels: {},
  };
}

function boolValue(spec: string, key: string, value: string | undefined): boolean {
  if (value === undefined) return true;
  const v = value.toLowerCase();
  if (v === 'true' || v === '1') return true;
  if (v === 'false' || v === '0') return false;
  return invalid('--mount', spec, `invalid value for ${key}: ${value}`);
}

/**
 * `--mount type=bind|volume|tmpfs,source=…,target=…[,readonly][,…]` as docker's CLI parses it
 * (opts/mount.go): CSV fields, `src`/`source`, `dst`/`destination`/`target`, `ro`/`readonly`
 * (optionally `=true|false|1|0`), `bind-propagation`, `volume-nocopy`, `volume-label=K=V`,
 * `volume-driver=local`, `tmpfs-size`, `tmpfs-mode`; type defaults to volume. A bind's source
 * must exist (unlike -v).
 */
export function parseMountFlag(spec: string): MountRequest {
  let type = 'volume';
  let source: string | undefined;
  let dest: string | undefined;
  let readonly = false;
  let nocopy = false;
  let propagation = '';
  let size: string | undefined;
  let mode: string | undefined;
  const labels: Record<string, string> = {};
  const seen = new Set<string>();
  for (const field of spec.split(',')) {
    if (field === '') continue;
    const eq = field.indexOf('=');
    const key = (eq < 0 ? field : field.slice(0, eq)).toLowerCase();
    const value = eq < 0 ? undefined : field.slice(eq + 1);
    if (value === undefined && key !== 'readonly' && key !== 'ro' && key !== 'volume-nocopy' && key !== 'bind-nonrecursive') {
      invalid('--mount', spec, `invalid field '${field}' must be a key=value pair`);
    }
    seen.add(key);
    switch (key) {
      case 'type':
        type = value ?? '';
        break;
      case 'source':
      case 'src':
        source = value;
        break;
      case 'target':
      case 'dst':
      case 'destination':
        dest = value;
        break;
      case 'readonly':
      case 'ro':
        readonly = boolValue(spec, key, value);
        break;
      case 'consistency':
      case 'bind-nonrecursive':
        break;
      case 'bind-propagation':
        if (!/^r?(private|shared|slave)$/.test(value ?? '')) invalid('--mount', spec, `invalid bind-propagation: ${value}`);
        propagation = value ?? '';
        break;
      case 'volume-nocopy':
        nocopy = boolValue(spec, key, value);
        break;
      case 'volume-label': {
        const v = value ?? '';
        const i = v.indexOf('=');
        labels[i < 0 ? v : v.slice(0, i)] = i < 0 ? '' : v.slice(i + 1);
        break;
      }
      case 'volume-driver':
        if (value !== 'local') invalid('--mount', spec, `volume driver ${JSON.stringify(value)} is not supported (only local)`);
        break;
      case 'tmpfs-size':
        size = value;
        break;
      case 'tmpfs-mode':
        if (!/^[0-7]{1,4}$/.test(value ?? '')) invalid('--mount', spec, `invalid value for tmpfs-mode: ${value}`);
        mode = value;
        break;
      default:
        invalid('--mount', spec, `unexpected key '${key}' in '${field}'`);
    }
  }
  if (type !== 'bind' && type !== 'volume' && type !== 'tmpfs') invalid('--mount', spec, `invalid mount type: ${JSON.stringify(type)} (bind, volume or tmpfs)`);
  if (dest === undefined || dest === '') invalid('--mount', spec, 'target is required');
  const targetPath = target('--mount', spec, dest);
  const mixed = (prefix: string) => [...seen].some((k) => k.startsWith(prefix));
  if (type !== 'volume' && (mixed('volume-'))) invalid('--mount', spec, `cannot mix 'volume-*' options with mount type '${type}'`);
  if (type !== 'bind' && mixed('bind-')) invalid('--mount', spec, `cannot mix 'bind-*' options with mount type '${type}'`);
  if (type !== 'tmpfs' && mixed('tmpfs-')) invalid('--mount', spec, `cannot mix 'tmpfs-*' options with mount type '${type}'`);
  if (type === 'bind') {
    if (source === undefined || source === '') invalid('--mount', spec, 'source is required when specifying bind mounts');
    if (!source.startsWith('/')) invalid('--mount', spec, `invalid mount config for type "bind": invalid mount path: '${source}' mount path must be absolute`);
    return { type, source: path.resolve(source), target: targetPath, readonly, createSource: false, mode: '', propagation: propagation || 'rprivate' };
  }
  if (type === 'tmpfs') {
    if (source !== undefined && source !== '') invalid('--mount', spec, 'invalid mount config for type "tmpfs": field Source must not be specified');
    return { type, target: targetPath, readonly, ...(size !== undefined ? { size } : {}), ...(mode !== undefined ? { mode } : {}) };
  }
  if (source !== undefined && source !== '') checkVolumeName(source);
  return { type, ...(source ? { name: source } : {}), target: targetPath, readonly, nocopy, mode: '', labels };
}

/** The runtime's mount flags that a plan sets (RunOverrides' `volumes` and `tmpfs`). */
export interface RuntimeMountFlags {
  volumes?: string[];
  tmpfs?: string[];
}

/**
 * The mounts of one `run`: the flags parsed (at once, so bad ones fail before a pull), the
 * image's volumes added once it is known, then the volumes made, seeded and recorded. Each step
 * rewrites the runtime's `volumes` and `tmpfs` (`--tmpfs` flags kept first).
 */
export function planMounts(berthRoot: string, flags: { volume?: string[]; mount?: string[]; tmpfs?: string[] }, overrides: RuntimeMountFlags): MountPlan {
  const plan = new MountPlan(flags, new VolumeStore(berthRoot), overrides, flags.tmpfs ?? []);
  plan.checkSources();
  plan.apply();
  return plan;
}

export class MountPlan {
  readonly requests: MountRequest[];
  /** The names runtimeFlags made for anonymous volumes. */
  private readonly anonymousNames = new Set<string>();

  constructor(
    flags: { volume?: string[]; mount?: string[] },
    readonly store: VolumeStore,
    private readonly overrides: RuntimeMountFlags = {},
    private readonly tmpfsFlags: readonly string[] = [],
  ) {
    this.requests = [...(flags.volume ?? []).map(parseVolumeFlag), ...(flags.mount ?? []).map(parseMountFlag)];
    const seen = new Set<string>();
    for (const r of this.requests) {
      if (seen.has(r.target)) throw new BerthError('EINVAL_ARGUMENT', `Duplicate mount point: ${r.target}`);
      seen.add(r.target);
    }
  }

  /** The image config's `Volumes` that no mount covers: anonymous volumes, as docker makes them. */
  addImageVolumes(volumes: Record<string, unknown> | null | undefined): void {
    for (const dest of Object.keys(volumes ?? {})) {
      const t = path.posix.normalize(dest).replace(/\/+$/, '') || '/';
      if (t === '/' || !t.startsWith('/') || this.requests.some((r) => r.target === t)) continue;
      this.requests.push({ type: 'volume', target: t, readonly: false, nocopy: false, mode: '', labels: {} });
    }
    this.apply();
  }

  /** Set the runtime's `volumes` and `tmpfs` from the plan as it is now. */
  apply(): void {
    const f = this.runtimeFlags(this.store);
    const tmpfs = [...this.tmpfsFlags, ...f.tmpfs];
    if (f.volumes.length > 0) this.overrides.volumes = f.volumes;
    else delete this.overrides.volumes;
    if (tmpfs.length > 0) this.overrides.tmpfs = tmpfs;
    else delete this.overrides.tmpfs;
  }

  /** A bind mount whose source must exist (`--mount type=bind`) and does not: docker's error. */
  checkSources(): void {
    for (const r of this.requests) {
      if (r.type === 'bind' && !r.createSource && !existsSync(r.source)) {
        throw new BerthError('EINVAL_ARGUMENT', `invalid mount config for type "bind": bind source path does not exist: ${r.source}`);
      }
    }
  }

  /**
   * What the runtime mounts: `-v HOST:DEST[:ro]` (a volume's `_data`; volumes named here, an
   * anonymous one a name made now) and `--tmpfs DEST[:opts]`.
   */
  runtimeFlags(store: VolumeStore): { volumes: string[]; tmpfs: string[] } {
    const volumes: string[] = [];
    const tmpfs: string[] = [];
    for (const r of this.requests) {
      if (r.type === 'tmpfs') {
        const opts = [...(r.readonly ? ['ro'] : []), ...(r.size !== undefined ? [`size=${r.size}`] : []), ...(r.mode !== undefined ? [`mode=${r.mode}`] : [])];
        tmpfs.push(opts.length > 0 ? `${r.target}:${opts.join(',')}` : r.target);
        continue;
      }
      if (r.type === 'volume' && r.name === undefined) {
        r.name = anonymousName();
        this.anonymousNames.add(r.name);
      }
      const source = r.type === 'bind' ? r.source : store.dataDir(r.name as string);
      volumes.push(`${source}:${r.target}${r.readonly ? ':ro' : ''}`);
    }
    return { volumes, tmpfs };
  }

  /**
   * Once the container's rootfs is there: volumes made on first use (anonymous ones labelled
   * as docker's), an empty one seeded from the image's content at its path (unless nocopy), and
   * the container's record written. Resolves to the record.
   */
  async prepare(opts: { containerId: string; rootfs: string }): Promise<MountRecord> {
    const store = this.store;
    const anonymous: string[] = [];
    const mounts: DockerMount[] = [];
    for (const r of this.requests) {
      if (r.type === 'tmpfs') {
        mounts.push({ Type: 'tmpfs', Source: '', Destination: r.target, Mode: '', RW: !r.readonly, Propagation: '' });
        continue;
      }
      if (r.type === 'bind') {
        mounts.push({ Type: 'bind', Source: r.source, Destination: r.target, Mode: r.mode, RW: !r.readonly, Propagation: r.propagation });
        continue;
      }
      const isAnonymous = this.anonymousNames.has(r.name as string);
      const name = r.name as string;
      const { created } = store.create({ name, labels: isAnonymous ? { [ANONYMOUS_LABEL]: '' } : r.labels });
      if (isAnonymous && created) anonymous.push(name);
      mounts.push({ Type: 'volume', Name: name, Source: store.dataDir(name), Destination: r.target, Driver: 'local', Mode: r.mode, RW: !r.readonly, Propagation: '' });
      if (!r.nocopy) await seedVolume(store.dataDir(name), opts.rootfs, r.target);
    }
    const rec = { Mounts: mounts, Anonymous: anonymous };
    store.writeRecord(opts.containerId, rec);
    return rec;
  }

}

function anonymousName(): string {
  return randomBytes(32).toString('hex');
}

/**
 * docker's copy of the image's content into an empty volume: what the image has at the mount's
 * path (a directory, resolved inside the rootfs) goes into `_data` with its owners and modes, the
 * directory's own included. A volume with anything in it is left alone.
 */
async function seedVolume(dataDir: string, rootfs: string, dest: string): Promise<void> {
  const [{ readdirSync, lstatSync }, { resolveInRoot }, { copyTree }] = await Promise.all([import('node:fs'), import('@berth/fs-root'), import('./tree-copy.js')]);
  if (readdirSync(dataDir).length > 0) return;
  const src = resolveInRoot(rootfs, dest, { missing: 'undefined' });
  if (src === undefined || !lstatSync(src).isDirectory()) return;
  await copyTree({ target: src, rootName: '.', dir: dataDir });
}

/** Remove the anonymous volumes made for a container (docker's `rm -v`, `run --rm`) and its record. */
export async function releaseMounts(store: VolumeStore, containerId: string, opts: { removeAnonymous: boolean }): Promise<void> {
  const rec = store.record(containerId);
  store.dropRecord(containerId);
  if (!rec || !opts.removeAnonymous) return;
  for (const name of rec.Anonymous) {
    // Another container may mount it (`--volumes-from` does not exist here, but -v NAME can name it).
    const others = [...store.records()].some(([, r]) => r.Mounts.some((m) => m.Name === name));
    if (!others && store.get(name)) store.remove(name);
  }
}
