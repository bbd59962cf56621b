import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { hostEtcFiles, isolatedEtcFiles } from '@berth/network/dns';
import { BerthError } from '@berth/oci';
import type { ContainerSpec } from '../spec/types.js';
import { DEFAULT_DEVICES } from '../init/config.js';
import type { CgroupHierarchy, CgroupMountPlan, DeviceNode } from '../init/config.js';

/**
 * Host-side facts the runtime computes before starting a container, so the
 * init child only executes a plan: the etc files, the cgroup mount plan, the
 * device list, the init and shim scripts, the static init binary.
 */

/**
 * `/etc/hostname`, `/etc/hosts`, `/etc/resolv.conf` contents, as docker writes them. The
 * rules live in @berth/network's dns module: a container on a network gets the texts its
 * setup produced (`spec.etc`), `--network host` the host's files, any other the isolated
 * defaults (localhost lines, the host's non-loopback nameservers).
 */
export function etcFileContents(spec: Pick<ContainerSpec, 'hostname' | 'network' | 'etc'>): {
  hostname: string;
  hosts: string;
  resolvConf: string;
} {
  const files = spec.etc ?? (spec.network === 'host' ? hostEtcFiles() : isolatedEtcFiles({ hostname: spec.hostname }));
  return { hostname: `${spec.hostname}\n`, hosts: files.hosts, resolvConf: files.resolvConf };
}

function readOr(file: string, fallback: string): string {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch {
    return fallback;
  }
}

/** Unescapes the octal escapes of /proc/self/mountinfo (`\040` for a space). */
function unescapeMountinfo(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
}

/**
 * How /sys/fs/cgroup is mounted in the container: cgroup2 when the host is on
 * the unified hierarchy, otherwise one read-only mount per v1 hierarchy the
 * host mounts under /sys/fs/cgroup (each rooted at the container's cgroup by
 * the cgroup namespace), plus the hybrid `unified` tree.
 */
export function cgroupMountPlan(mountinfo = readOr('/proc/self/mountinfo', '')): CgroupMountPlan {
  const hierarchies: CgroupHierarchy[] = [];
  let unifiedAtRoot = false;
  for (const line of mountinfo.split('\n')) {
    const sep = line.indexOf(' - ');
    if (sep < 0) continue;
    const fields = line.slice(0, sep).split(' ');
    const [fstype, , superOptions = ''] = line.slice(sep + 3).split(' ');
    const mountPoint = unescapeMountinfo(fields[4] ?? '');
    if (fstype === 'cgroup2' && mountPoint === '/sys/fs/cgroup') unifiedAtRoot = true;
    if (!mountPoint.startsWith('/sys/fs/cgroup/')) continue;
    const name = mountPoint.slice('/sys/fs/cgroup/'.length);
    if (name.includes('/') || name === '') continue;
    if (fstype === 'cgroup2') {
      hierarchies.push({ name, fstype: 'cgroup2', options: '' });
    } else if (fstype === 'cgroup') {
      const opts = superOptions
        .split(',')
        .filter((o) => o !== 'rw' && o !== 'ro' && !o.startsWith('release_agent=') && o !== 'clone_children' && o !== 'noprefix');
      hierarchies.push({ name, fstype: 'cgroup', options: opts.join(',') });
    }
  }
  if (unifiedAtRoot) return { version: 2 };
  if (hierarchies.length === 0) return { version: 'none' };
  return { version: 1, hierarchies };
}

/** The device nodes of a container: docker's defaults, plus every host device for --privileged. */
export function deviceNodes(privileged: boolean): DeviceNode[] {
  const out = DEFAULT_DEVICES.map((d) => ({ ...d }));
  if (!privileged) return out;
  const seen = new Set(out.map((d) => d.name));
  const skip = new Set(['console', 'ptmx', 'pts', 'shm', 'mqueue', 'fd', 'stdin', 'stdout', 'stderr', 'core']);
  const walk = (dir: string, prefix: string, depth: number): void => {
    let entries: fs.Dirent[];
    try {
      entries = fs.readdirSync(dir, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) {
      const name = prefix + e.name;
      if (seen.has(name) || skip.has(name)) continue;
      const p = path.join(dir, e.name);
      if (e.isDirectory() && depth < 2) walk(p, `${name}/`, depth + 1);
      if (!e.isCharacterDevice() && !e.isBlockDevice()) continue;
      const st = fs.statSync(p);
      const dev = BigInt(st.rdev);
      const major = Number(((dev >> 8n) & 0xfffn) | ((dev >> 32n) & 0xfffff000n));
      const minor = Number((dev & 0xffn) | ((dev >> 12n) & 0xffffff00n));
      out.push({ name, kind: e.isCharacterDevice() ? 'char' : 'block', major, minor, mode: st.mode & 0o777, uid: st.uid, gid: st.gid });
      seen.add(name);
    }
  };
  walk('/dev', '', 0);
  return out;
}

/** A static init for --init (tini, as docker-init): BERTH_INIT_BINARY, else tini-static / tini on the host. */
export function findInitBinary(): string | null {
  const candidates = [process.env['BERTH_INIT_BINARY'], '/usr/bin/tini-static', '/usr/bin/docker-init', '/usr/bin/tini'];
  for (const c of candidates) {
    if (c === undefined || c === '') continue;
    try {
      fs.accessSync(c, fs.constants.X_OK);
      return c;
    } catch {
      // Next.
    }
  }
  return null;
}

/**
 * The bundled script `name` (`init/main.cjs`, `shim/main.js`): next to this
 * module in dist/, or in ../dist/ when running from the TypeScript sources.
 */
export function bundledScript(name: 'init/main.cjs' | 'init/exec-main.cjs' | 'shim/main.js'): string {
  const here = path.dirname(fileURLToPath(import.meta.url));
  const candidates = [path.join(here, '..', name), path.join(here, '..', '..', 'dist', name)];
  for (const c of candidates) {
    if (fs.existsSync(c)) return c;
  }
  throw new BerthError('ERUNTIME', `find ${name}: not built (run \`npm run build -w @berth/runtime\`)`);
}
