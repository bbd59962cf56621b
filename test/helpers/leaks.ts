import { createHash } from 'node:crypto';
import { createReadStream, existsSync, readFileSync, readdirSync, readlinkSync } from 'node:fs';
import path from 'node:path';

/**
 * What a berth sandbox holds that no listed container owns: the checks of the
 * kill tests (test/kill) and the cleanup CLI tests. Each returns one line per
 * problem; an empty list means nothing leaked.
 */

const ID = /^[0-9a-f]{64}$/;

function names(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}

/** Container ids that appear in the sandbox now (state directories, staging ones, rootfs copies): record them before the command that should clean up. */
export function containerIdsSeen(env: NodeJS.ProcessEnv): string[] {
  const ids = new Set<string>();
  for (const e of names(env['BERTH_STATE'] as string)) {
    const m = /([0-9a-f]{64})/.exec(e);
    if (m) ids.add(m[1] as string);
  }
  for (const e of names(path.join(env['BERTH_ROOT'] as string, 'containers'))) if (ID.test(e)) ids.add(e);
  return [...ids];
}

/** Mount points at or below `dir` (this test runs in the host mount namespace, as berth does). */
export function mountsUnder(dir: string): string[] {
  return readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((l) => l.split(' ')[4])
    .filter((p): p is string => p !== undefined)
    .map((p) => p.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8))))
    .filter((p) => p === dir || p.startsWith(`${dir}/`));
}

/** Cgroup directories named after `id` (v1: one per controller; v2: one), berth's `berth/<id>` scheme. */
export function cgroupDirs(id: string): string[] {
  const out: string[] = [];
  const v2 = path.join('/sys/fs/cgroup/berth', id);
  if (existsSync(v2)) out.push(v2);
  for (const ctrl of names('/sys/fs/cgroup')) {
    const d = path.join('/sys/fs/cgroup', ctrl, 'berth', id);
    if (existsSync(d)) out.push(d);
  }
  return out;
}

/**
 * Processes whose root or working directory is under `root`, whose cgroup is one of `ids`',
 * or that carry `marker` (e.g. `BERTH_STATE=<this sandbox's>`) in their environment: a berth
 * process or helper (parked init, shim, namespace worker) of this sandbox still alive.
 */
export function processesOf(root: string, ids: string[], marker?: string): string[] {
  const out: string[] = [];
  for (const pid of names('/proc').filter((p) => /^\d+$/.test(p))) {
    if (Number(pid) === process.pid) continue;
    const where: string[] = [];
    for (const link of ['root', 'cwd']) {
      try {
        const target = readlinkSync(`/proc/${pid}/${link}`);
        if (target === root || target.startsWith(`${root}/`)) where.push(`${link} ${target}`);
      } catch {
        // Gone, or a kernel thread.
      }
    }
    try {
      const cg = readFileSync(`/proc/${pid}/cgroup`, 'utf8');
      for (const id of ids) if (cg.includes(`berth/${id}`)) where.push(`cgroup berth/${id.slice(0, 12)}`);
    } catch {
      // Gone.
    }
    if (marker !== undefined) {
      try {
        if (`\0${readFileSync(`/proc/${pid}/environ`, 'latin1')}`.includes(`\0${marker}\0`)) where.push(`environment ${marker}`);
      } catch {
        // Gone.
      }
    }
    if (where.length > 0) out.push(`process ${pid}: ${where.join(', ')}`);
  }
  return out;
}

/**
 * Everything left that `listed` (the ids `berth ps -aq --no-trunc`-style listing
 * shows) does not account for: mounts under BERTH_ROOT, state directories
 * (including staging and half-deleted ones), rootfs copies, cgroups and processes
 * of `seen` ids that are not listed; with `noBerthProcesses` (no container is meant to
 * run), any process of this sandbox's berth.
 */
export function leaks(env: NodeJS.ProcessEnv, opts: { listed: string[]; seen: string[]; noBerthProcesses?: boolean }): string[] {
  const root = env['BERTH_ROOT'] as string;
  const state = env['BERTH_STATE'] as string;
  const listed = new Set(opts.listed);
  const out: string[] = [];
  for (const m of mountsUnder(root)) out.push(`mount ${m}`);
  for (const e of names(state)) {
    if (e === 'names' || e === '.cache') continue;
    // Network namespaces (@berth/network): one per listed container at most.
    if (e === 'netns') {
      for (const ns of names(path.join(state, 'netns'))) if (!listed.has(ns)) out.push(`network namespace ${ns}`);
      continue;
    }
    if (!listed.has(e)) out.push(`state directory ${e}`);
  }
  for (const e of names(path.join(root, 'cni', 'results'))) {
    const id = /\+([0-9a-f]{64})\+/.exec(e)?.[1];
    if (id === undefined || !listed.has(id)) out.push(`CNI attachment ${e}`);
  }
  for (const e of names(path.join(root, 'containers'))) {
    if (e === '.berth-state') continue;
    if (!listed.has(e)) out.push(`rootfs copy ${e}`);
  }
  for (const e of names(path.join(root, 'builds'))) out.push(`build tree ${e}`);
  const unlisted = opts.seen.filter((id) => !listed.has(id));
  for (const id of unlisted) for (const d of cgroupDirs(id)) out.push(`cgroup ${d}`);
  out.push(...processesOf(root, unlisted, opts.noBerthProcesses ? `BERTH_STATE=${state}` : undefined));
  return out;
}

/** Blobs under `<store>/blobs/sha256` whose content does not hash to their name. */
export async function corruptBlobs(store: string): Promise<string[]> {
  const dir = path.join(store, 'blobs', 'sha256');
  const bad: string[] = [];
  for (const name of names(dir)) {
    const hash = createHash('sha256');
    await new Promise<void>((resolve, reject) => {
      createReadStream(path.join(dir, name)).on('data', (c) => hash.update(c)).on('end', resolve).on('error', reject);
    });
    if (hash.digest('hex') !== name) bad.push(name);
  }
  return bad;
}
