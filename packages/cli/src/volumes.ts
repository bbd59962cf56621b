/**
 * Named volumes: directories under `$BERTH_ROOT/volumes/<name>/` (docker's layout): `_data` is
 * what containers mount, `volume.json` the name, labels and creation time. A volume appears
 * whole (made under a temp name, then renamed). Which containers use which volumes is the CLI's
 * record per container, `$BERTH_ROOT/mounts/<container-id>.json` (docker's `Mounts`, and the
 * anonymous volumes to remove with `rm -v` and `run --rm`): a record whose container is gone
 * holds nothing.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { BerthError } from '@berth/oci';

/** The label docker puts on the volumes it makes for a container (`-v /path`, an image's VOLUME). */
export const ANONYMOUS_LABEL = 'com.docker.volume.anonymous';

/** docker's rule for a local volume's name. */
const NAME_RE = /^[a-zA-Z0-9][a-zA-Z0-9_.-]+$/;

export interface VolumeRecord {
  Name: string;
  Labels: Record<string, string>;
  CreatedAt: string;
}

/** docker's `volume inspect` shape. */
export interface VolumeInfo extends VolumeRecord {
  Driver: 'local';
  Mountpoint: string;
  Options: Record<string, string>;
  Scope: 'local';
}

/** One entry of docker's container `Mounts`. */
export interface DockerMount {
  Type: 'bind' | 'volume' | 'tmpfs';
  Name?: string;
  Source: string;
  Destination: string;
  Driver?: string;
  Mode: string;
  RW: boolean;
  Propagation: string;
}

/** What the CLI records for a container: its mounts and the anonymous volumes made for it. */
export interface MountRecord {
  Mounts: DockerMount[];
  Anonymous: string[];
}

export function isVolumeName(name: string): boolean {
  return NAME_RE.test(name);
}

export function checkVolumeName(name: string): string {
  if (!isVolumeName(name)) {
    throw new BerthError(
      'EINVAL_ARGUMENT',
      `"${name}" includes invalid characters for a local volume name, only "[a-zA-Z0-9][a-zA-Z0-9_.-]" are allowed. If you intended to pass a host directory, use absolute path`,
    );
  }
  return name;
}

export class VolumeStore {
  readonly dir: string;
  readonly mountsDir: string;

  constructor(berthRoot: string) {
    this.dir = path.join(berthRoot, 'volumes');
    this.mountsDir = path.join(berthRoot, 'mounts');
  }

  /** The directory containers mount. */
  dataDir(name: string): string {
    return path.join(this.dir, checkVolumeName(name), '_data');
  }

  get(name: string): VolumeRecord | undefined {
    if (!isVolumeName(name)) return undefined;
    try {
      return JSON.parse(readFileSync(path.join(this.dir, name, 'volume.json'), 'utf8')) as VolumeRecord;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw BerthError.wrap(`read volume ${name}`, err, 'ESTORE');
    }
  }

  /** The volume, or a one-line "no such volume" (docker's words). */
  require(name: string): VolumeRecord {
    const v = this.get(name);
    if (!v) throw new BerthError('ENOT_FOUND', `get ${name}: no such volume`);
    return v;
  }

  info(v: VolumeRecord): VolumeInfo {
    return { CreatedAt: v.CreatedAt, Driver: 'local', Labels: v.Labels, Mountpoint: this.dataDir(v.Name), Name: v.Name, Options: {}, Scope: 'local' };
  }

  /**
   * Create a volume (a random 64-hex name when none is given); an existing one is returned as it
   * is, as docker does. `created` says whether this call made it.
   */
  create(opts: { name?: string; labels?: Record<string, string> } = {}): { volume: VolumeRecord; created: boolean } {
    const name = checkVolumeName(opts.name ?? randomBytes(32).toString('hex'));
    const existing = this.get(name);
    if (existing) return { volume: existing, created: false };
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    const tmp = path.join(this.dir, `.new-${process.pid}-${randomBytes(6).toString('hex')}`);
    const volume: VolumeRecord = { Name: name, Labels: opts.labels ?? {}, CreatedAt: new Date().toISOString().replace(/\.\d+Z$/, 'Z') };
    try {
      mkdirSync(path.join(tmp, '_data'), { recursive: true, mode: 0o755 });
      writeFileSync(path.join(tmp, 'volume.json'), `${JSON.stringify(volume, null, 2)}\n`, { mode: 0o600 });
      renameSync(tmp, path.join(this.dir, name));
      return { volume, created: true };
    } catch (err) {
      rmSync(tmp, { recursive: true, force: true });
      const code = (err as NodeJS.ErrnoException).code;
      const raced = code === 'ENOTEMPTY' || code === 'EEXIST' ? this.get(name) : undefined;
      if (raced) return { volume: raced, created: false };
      throw BerthError.wrap(`create volume ${name}`, err, 'ESTORE');
    }
  }

  list(): VolumeRecord[] {
    let names: string[];
    try {
      names = readdirSync(this.dir);
    } catch {
      return [];
    }
    return names
      .filter(isVolumeName)
      .map((n) => this.get(n))
      .filter((v): v is VolumeRecord => v !== undefined)
      .sort((a, b) => a.Name.localeCompare(b.Name));
  }

  /** Remove a volume's directory (the caller checked that no container uses it). */
  remove(name: string): void {
    const dir = path.join(this.dir, checkVolumeName(name));
    const gone = path.join(this.dir, `.gone-${name}-${process.pid}`);
    renameSync(dir, gone);
    rmSync(gone, { recursive: true, force: true });
  }

  /** The containers' records, by container id. */
  records(): Map<string, MountRecord> {
    const out = new Map<string, MountRecord>();
    let files: string[];
    try {
      files = readdirSync(this.mountsDir);
    } catch {
      return out;
    }
    for (const f of files) {
      if (!/^[0-9a-f]{64}\.json$/.test(f)) continue;
      try {
        out.set(f.slice(0, 64), JSON.parse(readFileSync(path.join(this.mountsDir, f), 'utf8')) as MountRecord);
      } catch {
        // half-written or gone meanwhile: holds nothing
      }
    }
    return out;
  }

  record(containerId: string): MountRecord | undefined {
    return this.records().get(containerId);
  }

  writeRecord(containerId: string, rec: MountRecord): void {
    mkdirSync(this.mountsDir, { recursive: true, mode: 0o700 });
    const file = path.join(this.mountsDir, `${containerId}.json`);
    const tmp = `${file}.tmp-${process.pid}`;
    writeFileSync(tmp, `${JSON.stringify(rec)}\n`, { mode: 0o600 });
    renameSync(tmp, file);
  }

  dropRecord(containerId: string): void {
    rmSync(path.join(this.mountsDir, `${containerId}.json`), { force: true });
  }

  /** Volume name → ids of the live containers (`live`) that mount it. */
  users(live: ReadonlySet<string>): Map<string, string[]> {
    const out = new Map<string, string[]>();
    for (const [id, rec] of this.records()) {
      if (!live.has(id)) continue;
      for (const m of rec.Mounts) {
        if (m.Type !== 'volume' || m.Name === undefined) continue;
        out.set(m.Name, [...(out.get(m.Name) ?? []), id]);
      }
    }
    return out;
  }

  /** Forget the records of containers that are gone (not in `live`). */
  dropStale(live: ReadonlySet<string>): void {
    for (const id of this.records().keys()) if (!live.has(id)) this.dropRecord(id);
  }
}
