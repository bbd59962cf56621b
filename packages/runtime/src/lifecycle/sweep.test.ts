import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { isBerthError } from '@berth/oci';
import type { ImageConfig } from '@berth/oci';
import { buildSpec } from '../spec/build.js';
import type { CgroupProvider, RuntimeContext } from './context.js';
import { ROOTFS_OWNER_FILE, createContainer, prepareContainer } from './create.js';
import type { PrepareRequest } from './create.js';
import { StateStore, describe as describeState, newContainerId, processStartTime } from './state.js';
import type { ContainerState } from './state.js';
import { pruneContainers, sweepContainers } from './sweep.js';
import { surveyFoundWork, surveyStateRoot } from './survey.js';
import { listContainersIn, sweepStateRoot } from '../listing.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-sweep-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));
const imageConfig = { architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] }, config: { Cmd: ['sh'] } } as unknown as ImageConfig;

/** A state root and a containers directory of its own, with a cgroup backend that records what it removes. */
function setup(name: string) {
  const base = path.join(tmp, name);
  const containers = path.join(base, 'containers');
  const removedCgroups: string[] = [];
  const cgroups: CgroupProvider = {
    create: () => Promise.reject(new Error('not used')),
    open: async (id) => ({
      addProcess: async () => undefined,
      oomKills: async () => 0,
      remove: async () => {
        removedCgroups.push(id);
      },
      freeze: () => Promise.reject(new Error('not used')),
      thaw: () => Promise.reject(new Error('not used')),
      update: () => Promise.reject(new Error('not used')),
      pids: () => Promise.reject(new Error('not used')),
      stats: () => Promise.reject(new Error('not used')),
    }),
  };
  const ctx = {
    store: new StateStore(path.join(base, 'state')),
    cgroups,
    timing: false,
    removeRootfs: (dir: string) => fs.rmSync(dir, { recursive: true, force: true }),
  } as unknown as RuntimeContext;
  const prepare = (over: Partial<PrepareRequest> = {}): ContainerState => {
    const id = newContainerId();
    return prepareContainer(ctx, { id, rootfs: path.join(containers, id), autoRemove: false, detached: false, tty: false, ownsRootfs: true, ...over });
  };
  /** A rootfs copy with a file in it, as a (partial) copy would leave it. */
  const copy = (s: ContainerState): void => {
    fs.mkdirSync(path.join(s.rootfs, 'etc'), { recursive: true });
    fs.writeFileSync(path.join(s.rootfs, 'etc/passwd'), 'root:x:0:0::/root:/bin/sh\n');
  };
  return { ctx, containers, removedCgroups, prepare, copy };
}

/** The pid and start time of a process that has exited (a pid nobody reuses this soon). */
async function deadProcess(): Promise<{ monitorPid: number; monitorStartTime: number }> {
  const child = spawn('sleep', ['30']);
  await new Promise((r) => child.once('spawn', r));
  const pid = child.pid as number;
  const start = processStartTime(pid) as number;
  child.kill('SIGKILL');
  await new Promise((r) => child.once('exit', r));
  return { monitorPid: pid, monitorStartTime: start };
}

describe('prepareContainer', () => {
  it('writes a whole state that names the rootfs, --rm and this process, before any rootfs exists', () => {
    const { ctx, containers, prepare } = setup('prepare');
    const s = prepare({ name: 'web', autoRemove: true });
    const stored = ctx.store.read(s.id) as ContainerState;
    expect(stored).toMatchObject({ status: 'created', preparing: true, autoRemove: true, ownsRootfs: true, rootfs: path.join(containers, s.id), monitorPid: process.pid });
    expect(stored.monitorStartTime).toBe(processStartTime(process.pid));
    expect(fs.existsSync(stored.rootfs)).toBe(false);
    expect(ctx.store.resolve('web')).toBe(s.id);
    expect(fs.readFileSync(path.join(containers, ROOTFS_OWNER_FILE), 'utf8').trim()).toBe(ctx.store.root);
    // Only whole state directories: no staging leftovers.
    expect(fs.readdirSync(ctx.store.root).filter((e) => e.startsWith('.new-'))).toEqual([]);
    expect(describeState(stored).statusText).toBe('Created');
  });

  it('refuses a bad or taken name before anything is written', () => {
    const { ctx, containers, prepare } = setup('prepare-names');
    prepare({ name: 'dup' });
    const before = fs.readdirSync(ctx.store.root).sort();
    let err: unknown;
    try {
      prepare({ name: 'dup' });
    } catch (e) {
      err = e;
    }
    expect(isBerthError(err, 'EIN_USE')).toBe(true);
    expect(() => prepare({ name: 'bad name!' })).toThrow(/invalid container name "bad name!"/);
    expect(fs.readdirSync(ctx.store.root).sort()).toEqual(before);
    expect(fs.readdirSync(containers)).toEqual([ROOTFS_OWNER_FILE]);
  });

  it('createContainer completes a prepared container, and removes it whole when it cannot', () => {
    const { ctx, prepare, copy } = setup('prepare-create');
    const spec = buildSpec({ imageConfig, rootfs: '/', hostEnv: {} });
    const ok = prepare({ name: 'done' });
    copy(ok);
    const created = createContainer(ctx, { id: ok.id, rootfs: ok.rootfs, spec, tty: false, init: false, autoRemove: false, detached: false, ownsRootfs: true });
    expect(created).toMatchObject({ id: ok.id, name: 'done', status: 'created', command: ['sh'], cgroup: true });
    expect(created.preparing).toBeUndefined();
    expect(fs.existsSync(ctx.store.file(ok.id, 'config.json'))).toBe(true);

    const bad = prepare({ name: 'broken' });
    copy(bad);
    const spec2 = { ...spec, hostname: 'bad\nname' };
    // A rootfs other than the prepared one is refused, and the prepared container goes, copy and all.
    expect(() =>
      createContainer(ctx, { id: bad.id, rootfs: ok.rootfs, spec: spec2, tty: false, init: false, autoRemove: false, detached: false, ownsRootfs: true }),
    ).toThrow(/is not the one prepared/);
    expect(ctx.store.read(bad.id)).toBeUndefined();
    expect(fs.existsSync(bad.rootfs)).toBe(false);
    expect(() => ctx.store.resolve('broken')).toThrow(/no such container/);
  });
});

describe('sweepContainers', () => {
  it('removes a container whose creator died during the rootfs copy: state, partial copy, name, cgroup', async () => {
    const { ctx, removedCgroups, prepare, copy } = setup('sweep-copy');
    const s = prepare({ name: 'half' });
    copy(s);
    const dead = await deadProcess();
    ctx.store.update(s.id, (st) => Object.assign(st, dead));
    expect(describeState(ctx.store.read(s.id) as ContainerState).statusText).toBe('Exited (unknown)');
    const r = await sweepContainers(ctx, {});
    expect(r.removed).toEqual([s.id]);
    expect(r.remaining).toEqual([]);
    expect(fs.existsSync(s.rootfs)).toBe(false);
    expect(fs.existsSync(ctx.store.dir(s.id))).toBe(false);
    expect(() => ctx.store.resolve('half')).toThrow(/no such container/);
    // The cgroup was never made (cgroup: false while preparing): nothing to remove.
    expect(removedCgroups).toEqual([]);
  });

  it("keeps a created container with no monitor (`berth create`'s, waiting for `start`), --rm or not", async () => {
    const { ctx, prepare, copy } = setup('sweep-created');
    for (const autoRemove of [false, true]) {
      const s = prepare({ name: `made-${autoRemove}`, autoRemove });
      copy(s);
      ctx.store.update(s.id, (st) => {
        delete st.preparing;
        delete st.monitorPid;
        delete st.monitorStartTime;
      });
      expect(describeState(ctx.store.read(s.id) as ContainerState).statusText).toBe('Created');
      const r = await sweepContainers(ctx, {});
      expect(r.removed).toEqual([]);
      expect(r.remaining.map((c) => c.id)).toContain(s.id);
      expect(fs.existsSync(s.rootfs)).toBe(true);
    }
  });

  it('removes dead --rm containers completely, keeps dead ones without --rm (Exited (unknown)) and never touches live ones', async () => {
    const { ctx, removedCgroups, prepare, copy } = setup('sweep-rm');
    const dead = await deadProcess();
    const mk = (autoRemove: boolean, monitor: { monitorPid: number; monitorStartTime?: number }, pid = monitor.monitorPid): ContainerState => {
      const s = prepare({ autoRemove });
      copy(s);
      return ctx.store.update(s.id, (st) => {
        Object.assign(st, monitor, { status: 'running', cgroup: true, pid, pidStartTime: processStartTime(pid) ?? dead.monitorStartTime, startedAt: new Date().toISOString() });
        delete st.preparing;
      }) as ContainerState;
    };
    const self = StateStore.self();
    const deadRm = mk(true, dead);
    const deadKeep = mk(false, dead);
    const liveRm = mk(true, { ...self });
    // A reused pid: alive, but not the process that started the container.
    const reused = mk(true, { monitorPid: process.pid, monitorStartTime: (self.monitorStartTime ?? 0) + 1 }, dead.monitorPid);
    // Stopped --rm: its owner was killed while removing it (gone), or is removing it now (kept).
    const stop = (s: ContainerState): void => {
      ctx.store.update(s.id, (st) => Object.assign(st, { status: 'stopped', exitCode: 0 }));
    };
    const stoppedOrphan = mk(true, dead);
    stop(stoppedOrphan);
    const stoppedOwned = mk(true, { ...self }, dead.monitorPid);
    stop(stoppedOwned);
    const r = await sweepContainers(ctx, {});
    expect(r.removed.sort()).toEqual([deadRm.id, reused.id, stoppedOrphan.id].sort());
    expect(removedCgroups.sort()).toEqual([deadRm.id, reused.id, stoppedOrphan.id].sort());
    expect(r.remaining.map((c) => c.id)).toContain(stoppedOwned.id);
    for (const gone of [deadRm, reused, stoppedOrphan]) {
      expect(fs.existsSync(gone.rootfs)).toBe(false);
      expect(fs.existsSync(ctx.store.dir(gone.id))).toBe(false);
    }
    const left = new Map(r.remaining.map((c) => [c.id, c.statusText]));
    expect(left.get(deadKeep.id)).toBe('Exited (unknown)');
    expect(left.get(liveRm.id)).toBe('Up');
    expect(fs.existsSync(deadKeep.rootfs) && fs.existsSync(liveRm.rootfs)).toBe(true);
  });

  it('deletes half-written and half-deleted state directories, and rootfs copies no state names (only in its own containers directory)', async () => {
    const { ctx, containers, prepare, copy } = setup('sweep-orphans');
    const kept = prepare();
    copy(kept);
    const orphan = path.join(containers, newContainerId());
    fs.mkdirSync(path.join(orphan, 'bin'), { recursive: true });
    const dead = await deadProcess();
    const root = ctx.store.root;
    fs.mkdirSync(path.join(root, `.new-${dead.monitorPid}-${newContainerId()}`));
    const liveStaging = `.new-${process.pid}-${newContainerId()}`;
    fs.mkdirSync(path.join(root, liveStaging));
    fs.mkdirSync(path.join(root, `.gone-${newContainerId()}-${dead.monitorPid}`));
    // Being deleted by a live process (StateStore.remove): left to it.
    const liveGone = `.gone-${newContainerId()}-${process.pid}`;
    fs.mkdirSync(path.join(root, liveGone));
    // A directory without state.json names nothing.
    fs.mkdirSync(path.join(root, newContainerId()));
    // The survey only reads: it finds the work, and everything is still there.
    const before = fs.readdirSync(root).sort();
    const survey = surveyStateRoot(ctx, { containersDir: containers });
    expect([surveyFoundWork(survey), survey.leftovers.length, survey.stateless.length, survey.orphans]).toEqual([true, 2, 1, [orphan]]);
    expect(survey.remaining.map((c) => c.id)).toEqual([kept.id]);
    expect(fs.readdirSync(root).sort()).toEqual(before);
    expect(fs.existsSync(orphan)).toBe(true);
    const r = await sweepContainers(ctx, { containersDir: containers });
    expect(r.orphanRootfs).toEqual([orphan]);
    expect(fs.existsSync(orphan)).toBe(false);
    expect(fs.existsSync(kept.rootfs)).toBe(true);
    expect(fs.readdirSync(root).filter((e) => e !== 'names' && e !== '.cache').sort()).toEqual([liveStaging, liveGone, kept.id].sort());
    expect(surveyFoundWork(surveyStateRoot(ctx, { containersDir: containers }))).toBe(false);

    // Another state root's containers directory (its owner file names that root) is left alone.
    const other = setup('sweep-other');
    const theirs = other.prepare();
    other.copy(theirs);
    const r2 = await sweepContainers(ctx, { containersDir: other.containers });
    expect(r2.orphanRootfs).toEqual([]);
    expect(fs.existsSync(theirs.rootfs)).toBe(true);
  });

  it('the listing entry: with nothing to remove, sweepStateRoot is the survey, listed as list() lists', async () => {
    const { ctx, containers, prepare, copy } = setup('sweep-listing');
    const first = prepare();
    copy(first);
    const second = prepare({ autoRemove: true });
    copy(second);
    const r = await sweepStateRoot(ctx.store.root, { containersDir: containers });
    expect(r).toEqual({ removed: [], orphanRootfs: [], errors: [], remaining: listContainersIn(ctx.store.root) });
    expect(r.remaining.map((c) => c.id).sort()).toEqual([first.id, second.id].sort());
  });

  it('loads the rootfs remover only when something is removed', async () => {
    const { ctx, prepare, copy } = setup('sweep-lazy');
    let loads = 0;
    const removed: string[] = [];
    const rootfsRemover = async () => {
      loads++;
      return (dir: string) => {
        removed.push(dir);
        fs.rmSync(dir, { recursive: true, force: true });
      };
    };
    const live = prepare({ autoRemove: true });
    copy(live);
    await sweepContainers(ctx, { rootfsRemover });
    expect(loads).toBe(0);
    ctx.store.update(live.id, (st) => Object.assign(st, { monitorPid: 2 ** 22 + 1, monitorStartTime: 1 }));
    await sweepContainers(ctx, { rootfsRemover });
    expect(loads).toBe(1);
    expect(removed).toEqual([live.rootfs]);
  });
});

describe('pruneContainers', () => {
  it('removes stopped and dead containers, counts their rootfs blocks, and leaves running and preparing ones', async () => {
    const { ctx, prepare, copy } = setup('prune');
    const stopped = prepare();
    copy(stopped);
    ctx.store.update(stopped.id, (st) => Object.assign(st, { status: 'stopped', exitCode: 0 }));
    const preparing = prepare();
    const r = await pruneContainers(ctx);
    expect(r.removed).toEqual([stopped.id]);
    expect(r.reclaimedBytes).toBeGreaterThan(0);
    expect(fs.existsSync(stopped.rootfs)).toBe(false);
    expect(ctx.store.read(preparing.id)?.status).toBe('created');
  });
});
