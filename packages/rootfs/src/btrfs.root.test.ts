/**
 * btrfs subvolumes end to end, on a loop-mounted btrfs (root, mkfs.btrfs and
 * losetup needed; skipped with the reason otherwise): snapshots built as
 * read-only subvolumes, container rootfs as btrfs snapshots, removal of
 * subvolumes, and every fallback to the copy walk.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import {
  chmodSync,
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Digest, encodeJson, isBerthError, MediaType } from '@berth/oci';
import { Store, type StoredImage } from '@berth/store';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildLayer, buildTar, type EntrySpec } from '../../../fixtures/layers/index.js';
import {
  BTRFS_IOC_GET_SUBVOL_ROOTREF,
  BTRFS_IOC_SNAP_CREATE_V2,
  BTRFS_IOC_SNAP_DESTROY,
  BTRFS_IOC_SUBVOL_CREATE,
  BTRFS_IOC_SUBVOL_GETFLAGS,
  BTRFS_IOC_SUBVOL_SETFLAGS,
  createSubvolume,
  isReadOnly,
  isSubvolumeRoot,
  libcBtrfsBinding,
  onBtrfs,
  setReadOnly,
  withBtrfsBinding,
  withDirFd,
  type BtrfsBinding,
} from './btrfs.js';
import { createRootfs } from './copy.js';
import { removeTree } from './remove.js';
import { Snapshots } from './snapshots.js';
import { asNobody, buildFixture, compareTrees, isRoot, loopMount, type LoopMount } from './test-support/trees.js';
import { unpackImage } from './unpack.js';

const repoRoot = fileURLToPath(new URL('../../..', import.meta.url));
const sharedImages = resolve(repoRoot, '../shared/images');
const hasShared = existsSync(join(sharedImages, 'alpine', 'index.json'));

describe('btrfs binding', () => {
  it('uses the request numbers of linux/btrfs.h', () => {
    // _IOW(0x94, 14/15, 4096), _IOW(0x94, 23, 4096), _IOR/_IOW(0x94, 25/26, u64), _IOWR(0x94, 61, 4096)
    expect(BTRFS_IOC_SUBVOL_CREATE).toBe(0x5000940e);
    expect(BTRFS_IOC_SNAP_DESTROY).toBe(0x5000940f);
    expect(BTRFS_IOC_SNAP_CREATE_V2).toBe(0x50009417);
    expect(BTRFS_IOC_SUBVOL_GETFLAGS).toBe(0x80089419);
    expect(BTRFS_IOC_SUBVOL_SETFLAGS).toBe(0x4008941a);
    expect(BTRFS_IOC_GET_SUBVOL_ROOTREF).toBe(0xd000943d);
  });

  it('reports a refused ioctl as an errno error naming the request and the path', (ctx) => {
    const dir = mkdtempSync(join(tmpdir(), 'berth-rootfs-btrfs-'));
    try {
      // the temp dir's file system is not btrfs: the kernel says ENOTTY (or EOPNOTSUPP on some stacks)
      if (onBtrfs(dir)) return ctx.skip('the temp dir is on btrfs: subvolume creation would succeed');
      let err: unknown;
      try {
        withDirFd(dir, (fd) => createSubvolume(fd, 'sub', join(dir, 'sub')));
      } catch (e) {
        err = e;
      }
      expect((err as NodeJS.ErrnoException).code).toMatch(/^(ENOTTY|EOPNOTSUPP|EINVAL)$/);
      expect((err as Error).message).toBe(`${(err as NodeJS.ErrnoException).code}: ioctl BTRFS_IOC_SUBVOL_CREATE '${join(dir, 'sub')}'`);
      expect(existsSync(join(dir, 'sub'))).toBe(false);
      // names that could escape the directory never reach the kernel
      for (const bad of ['', 'a/b', '..x/..', 'x'.repeat(4040)]) {
        expect(() => withDirFd(dir, (fd) => createSubvolume(fd, bad, dir))).toThrow(/EINVAL: not a usable subvolume name/);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

/** A synthetic image from layer descriptions, stored in `store`. */
async function putImage(store: Store, layers: EntrySpec[][]): Promise<StoredImage> {
  const descriptors = [];
  const diffIds: string[] = [];
  for (const entries of layers) {
    const tar = await buildTar(entries);
    const { digest, size } = await store.putBlob(await buildLayer(entries, { compression: 'gzip' }));
    descriptors.push({ mediaType: MediaType.OciLayerGzip, digest: digest.toString(), size });
    diffIds.push(Digest.of(tar).toString());
  }
  const c = await store.putBlob(encodeJson({ architecture: 'amd64', os: 'linux', config: {}, rootfs: { type: 'layers', diff_ids: diffIds } }));
  const m = await store.putBlob(
    encodeJson({
      schemaVersion: 2,
      mediaType: MediaType.OciManifest,
      config: { mediaType: MediaType.OciConfig, digest: c.digest.toString(), size: c.size },
      layers: descriptors,
    }),
  );
  return store.getImage(m.digest.toString());
}

const layerA: EntrySpec[] = [
  { path: 'etc/', type: 'dir', mode: 0o755 },
  { path: 'etc/os-release', content: 'ID=berth\n' },
  { path: 'etc/shadow', content: 'root:*::0:::::\n', mode: 0o640, gid: 42 },
  { path: 'bin/', type: 'dir' },
  { path: 'bin/tool', content: 'v1', mode: 0o755 },
  { path: 'bin/link', type: 'symlink', linkname: 'tool' },
  { path: 'data/', type: 'dir' },
  { path: 'data/big', content: Buffer.alloc(2 << 20, 3) },
];
const layerB: EntrySpec[] = [{ path: 'etc/extra', content: 'second layer' }];

/** Whether a peer tool agrees: `btrfs property get PATH ro` (undefined when the CLI is missing). */
function btrfsReadOnly(path: string): boolean | undefined {
  const r = spawnSync('btrfs', ['property', 'get', '-ts', path, 'ro'], { encoding: 'utf8' });
  if (r.error || r.status !== 0) return undefined;
  return r.stdout.trim() === 'ro=true';
}

/**
 * The libc binding, recording each call as `REQUEST:ok` or `REQUEST:ERRNO`;
 * with `refuse`, that request fails with that errno instead (fault injection).
 */
function recording(refuse?: { request: number; code: string }): BtrfsBinding & { calls: string[] } {
  const real = libcBtrfsBinding();
  const calls: string[] = [];
  return {
    calls,
    ioctl(fd, req, arg, what, path) {
      const name = what.replace(/^BTRFS_IOC_/, '');
      if (req === refuse?.request) {
        calls.push(`${name}:${refuse.code}`);
        throw Object.assign(new Error(`${refuse.code}: ioctl ${what} '${String(path)}'`), { code: refuse.code });
      }
      try {
        const r = real.ioctl(fd, req, arg, what, path);
        calls.push(`${name}:ok`);
        return r;
      } catch (err) {
        calls.push(`${name}:${(err as NodeJS.ErrnoException).code}`);
        throw err;
      }
    },
  };
}

function refusing(request: number, code: string): BtrfsBinding & { calls: string[] } {
  return recording({ request, code });
}

describe('btrfs subvolumes on a loop-mounted btrfs', () => {
  let mount: LoopMount | undefined;
  let skipReason = '';
  let base: string;
  let store: Store;
  let snaps: Snapshots;
  const snapLogs: string[] = [];
  let n = 0;
  const fresh = (name: string): string => join(mount?.dir ?? '/nonexistent', `${name}-${++n}`);

  beforeAll(async () => {
    base = mkdtempSync(join(tmpdir(), 'berth-rootfs-btrfs-'));
    store = await Store.open({ root: join(base, 'store') });
    const m = loopMount('btrfs', 400);
    if (typeof m === 'string') skipReason = m;
    else mount = m;
    if (mount) {
      chmodSync(dirname(mount.dir), 0o755); // the unprivileged tests walk in here as nobody
      snaps = new Snapshots({ root: join(mount.dir, 'snapshots'), store, log: (msg) => snapLogs.push(msg) });
    }
  });

  afterAll(() => {
    mount?.cleanup();
    rmSync(base, { recursive: true, force: true });
  });

  it('Snapshots builds an image snapshot as a read-only subvolume, with nothing of its own inside', async (ctx) => {
    if (!mount) return ctx.skip(skipReason);
    const image = await putImage(store, [layerA, layerB]);
    const { path, created } = await snaps.ensure({ image });
    expect(created).toBe(true);
    expect(isSubvolumeRoot(path)).toBe(true);
    expect(lstatSync(path).ino).toBe(256);
    expect(lstatSync(path).dev).not.toBe(lstatSync(snaps.root).dev);
    expect(withDirFd(path, (fd) => isReadOnly(fd, path))).toBe(true);
    const peer = btrfsReadOnly(path);
    if (peer !== undefined) expect(peer).toBe(true);
    // the kernel refuses any change to the image's tree
    expect(() => writeFileSync(join(path, 'etc/os-release'), 'tampered')).toThrow(/EROFS/);
    expect(() => unlinkSync(join(path, 'bin/tool'))).toThrow(/EROFS/);
    expect(() => chmodSync(join(path, 'bin/tool'), 0o777)).toThrow(/EROFS/);
    expect(readdirSync(path).sort()).toEqual(['bin', 'data', 'etc']);
    expect(readFileSync(join(path, 'etc/extra'), 'utf8')).toBe('second layer');
    expect(lstatSync(join(path, 'etc/shadow')).gid).toBe(42);
    expect(lstatSync(path).mode & 0o7777).toBe(0o755);
    // locks and temp dirs stay outside it
    expect(readdirSync(join(snaps.root, '.tmp'))).toEqual([]);
    expect(readdirSync(join(snaps.root, '.locks')).length).toBeGreaterThan(0);
    expect(snapLogs).toEqual([]);
    // reused as it is
    expect((await snaps.ensure({ image })).created).toBe(false);
  });

  it('createRootfs makes a container rootfs as a writable btrfs snapshot of the image snapshot, independent both ways', async (ctx) => {
    if (!mount) return ctx.skip(skipReason);
    const image = await putImage(store, [layerA]);
    const { path: snapshot } = await snaps.ensure({ image });
    const before = compareTrees(snapshot, snapshot);
    expect(before).toEqual([]);
    const dest = join(mount.dir, 'containers', 'c1');
    const logs: string[] = [];
    const result = await createRootfs({ snapshot, dest, log: (m) => logs.push(m) });
    expect(result).toEqual({ method: 'snapshot', files: undefined });
    expect(logs.join('\n')).toContain('BTRFS_IOC_SNAP_CREATE_V2');
    expect(isSubvolumeRoot(dest)).toBe(true);
    expect(withDirFd(dest, (fd) => isReadOnly(fd, dest))).toBe(false);
    expect(lstatSync(join(mount.dir, 'containers')).mode & 0o777).toBe(0o700);
    expect(compareTrees(snapshot, dest)).toEqual([]);

    // a second container from the same snapshot
    const dest2 = join(mount.dir, 'containers', 'c2');
    expect((await createRootfs({ snapshot, dest: dest2 })).method).toBe('snapshot');

    // writes, deletes, chmods, new files in c1: the snapshot and c2 are untouched
    const pristine = readFileSync(join(snapshot, 'data/big'));
    writeFileSync(join(dest, 'data/big'), 'rewritten');
    unlinkSync(join(dest, 'bin/tool'));
    chmodSync(join(dest, 'etc/shadow'), 0o666);
    writeFileSync(join(dest, 'new-file'), 'only in c1');
    expect(readFileSync(join(snapshot, 'data/big')).equals(pristine)).toBe(true);
    expect(readFileSync(join(dest2, 'data/big')).equals(pristine)).toBe(true);
    expect(existsSync(join(snapshot, 'bin/tool')) && existsSync(join(dest2, 'bin/tool'))).toBe(true);
    expect(lstatSync(join(snapshot, 'etc/shadow')).mode & 0o777).toBe(0o640);
    expect(existsSync(join(dest2, 'new-file')) || existsSync(join(snapshot, 'new-file'))).toBe(false);
    expect(compareTrees(snapshot, dest2)).toEqual([]);
  });

  it('keeps every entry type, owner, mode, xattr, hard link and time, and a change to the source later does not reach the copy', async (ctx) => {
    if (!mount) return ctx.skip(skipReason);
    // the full fixture in a writable subvolume: built as a plain tree, copied into an empty subvolume by the walk
    const plain = fresh('plain');
    buildFixture(plain);
    const sub = fresh('sub');
    withDirFd(mount.dir, (fd) => createSubvolume(fd, basename(sub), sub));
    const logs: string[] = [];
    const filled = await createRootfs({ snapshot: plain, dest: sub, log: (m) => logs.push(m) });
    expect(filled.method).toBe('reflink'); // a plain directory on btrfs: the walk, sharing extents
    expect(compareTrees(plain, sub)).toEqual([]);

    const dest = fresh('copy');
    expect((await createRootfs({ snapshot: sub, dest })).method).toBe('snapshot');
    expect(compareTrees(sub, dest)).toEqual([]);
    // vice versa: the source changes after the copy; the copy does not
    const original = readFileSync(join(dest, 'etc/hostname'));
    writeFileSync(join(sub, 'etc/hostname'), 'changed in the source');
    rmSync(join(sub, 'data/big.bin'));
    expect(readFileSync(join(dest, 'etc/hostname')).equals(original)).toBe(true);
    expect(existsSync(join(dest, 'data/big.bin'))).toBe(true);
    await removeTree(plain);
  });

  it('the real alpine image: Snapshots → createRootfs → removeTree on btrfs', async (ctx) => {
    if (!mount) return ctx.skip(skipReason);
    if (!hasShared) return ctx.skip(`real images not found at ${sharedImages}`);
    const layout = join(sharedImages, 'alpine');
    for (const hex of readdirSync(join(layout, 'blobs/sha256'))) await store.putBlob(readFileSync(join(layout, 'blobs/sha256', hex)), { digest: `sha256:${hex}` });
    const index = JSON.parse(readFileSync(join(layout, 'index.json'), 'utf8')) as { manifests: Array<{ digest: string; annotations?: Record<string, string> }> };
    const latest = index.manifests.find((m) => m.annotations?.['org.opencontainers.image.ref.name'] === 'latest');
    if (!latest) throw new Error('alpine: no latest tag');
    const image = await store.getImage(latest.digest);
    const { path } = await snaps.ensure({ image });
    const dest = join(mount.dir, 'containers', 'alpine');
    expect((await createRootfs({ snapshot: path, dest })).method).toBe('snapshot');
    expect(readFileSync(join(dest, 'etc/alpine-release'), 'utf8')).toBe('3.20.3\n');
    expect(compareTrees(path, dest)).toEqual([]);
    await removeTree(dest);
    expect(existsSync(dest)).toBe(false);
    expect(existsSync(join(path, 'etc/alpine-release'))).toBe(true);
  });

  it('removeTree deletes a container rootfs subvolume, and trees holding nested and read-only subvolumes', async (ctx) => {
    if (!mount) return ctx.skip(skipReason);
    const image = await putImage(store, [layerA]);
    const { path: snapshot } = await snaps.ensure({ image });
    // the rootfs itself is the subvolume
    const rootfs = fresh('rootfs');
    await createRootfs({ snapshot, dest: rootfs });
    const rec = recording();
    await withBtrfsBinding(rec, () => removeTree(rootfs));
    expect(existsSync(rootfs)).toBe(false);
    expect(rec.calls).toEqual(['SNAP_DESTROY:ok']); // one ioctl, no walk

    // a container directory holding: a snapshot, a subvolume with a subvolume nested in it, a read-only one
    const tree = fresh('tree');
    mkdirSync(join(tree, 'plain/dir'), { recursive: true });
    writeFileSync(join(tree, 'plain/dir/f'), 'x');
    await createRootfs({ snapshot, dest: join(tree, 'rootfs') });
    withDirFd(tree, (fd) => createSubvolume(fd, 'outer', join(tree, 'outer')));
    writeFileSync(join(tree, 'outer/file'), 'outer');
    mkdirSync(join(tree, 'outer/d'));
    withDirFd(join(tree, 'outer/d'), (fd) => createSubvolume(fd, 'inner', join(tree, 'outer/d/inner')));
    writeFileSync(join(tree, 'outer/d/inner/file'), 'inner');
    chmodSync(join(tree, 'outer/d'), 0o555);
    withDirFd(tree, (fd) => createSubvolume(fd, 'ro', join(tree, 'ro')));
    writeFileSync(join(tree, 'ro/file'), 'ro');
    withDirFd(join(tree, 'ro'), (fd) => setReadOnly(fd, true, join(tree, 'ro')));
    // outside the tree, must survive
    const canary = fresh('canary');
    writeFileSync(canary, 'keep');
    const rec2 = recording();
    await withBtrfsBinding(rec2, () => removeTree(tree));
    expect(existsSync(tree)).toBe(false);
    expect(readFileSync(canary, 'utf8')).toBe('keep');
    // rootfs, ro and inner are destroyed; outer is refused (inner is nested in it), emptied, then rmdir-ed
    expect(rec2.calls.filter((c) => c.startsWith('SNAP_DESTROY')).sort()).toEqual([
      'SNAP_DESTROY:ENOTEMPTY',
      'SNAP_DESTROY:ok',
      'SNAP_DESTROY:ok',
      'SNAP_DESTROY:ok',
    ]);

    // the path itself a subvolume with a nested, read-only subvolume inside (destroy says ENOTEMPTY: emptied first)
    const top = fresh('top');
    withDirFd(mount.dir, (fd) => createSubvolume(fd, basename(top), top));
    withDirFd(top, (fd) => createSubvolume(fd, 'nested', join(top, 'nested')));
    writeFileSync(join(top, 'nested/f'), 'n');
    withDirFd(join(top, 'nested'), (fd) => setReadOnly(fd, true, join(top, 'nested')));
    withDirFd(top, (fd) => setReadOnly(fd, true, top));
    const rec3 = recording();
    await withBtrfsBinding(rec3, () => removeTree(top));
    expect(existsSync(top)).toBe(false);
    // refused (nested), made writable, the nested one destroyed, then the empty top rmdir-ed
    expect(rec3.calls).toEqual(['SNAP_DESTROY:ENOTEMPTY', 'SUBVOL_GETFLAGS:ok', 'SUBVOL_GETFLAGS:ok', 'SUBVOL_SETFLAGS:ok', 'SNAP_DESTROY:ok']);
    // the snapshot they came from is intact
    expect(readFileSync(join(snapshot, 'etc/os-release'), 'utf8')).toBe('ID=berth\n');
  });

  it('removeTree refuses a subvolume with a mount point inside, before deleting anything (the kernel would detach it)', async (ctx) => {
    if (!mount) return ctx.skip(skipReason);
    const sub = fresh('mounted');
    withDirFd(mount.dir, (fd) => createSubvolume(fd, basename(sub), sub));
    mkdirSync(join(sub, 'proc'));
    writeFileSync(join(sub, 'before'), 'b');
    const mounted = spawnSync('mount', ['-t', 'tmpfs', 'berth-test', join(sub, 'proc')]);
    if (mounted.status !== 0) return ctx.skip(`cannot mount tmpfs: ${mounted.stderr.toString().trim()}`);
    try {
      writeFileSync(join(sub, 'proc/on-tmpfs'), 'precious');
      for (const target of [sub, dirname(sub)]) {
        const err = await removeTree(target).catch((e: unknown) => e);
        expect(isBerthError(err, 'EIN_USE')).toBe(true);
      }
      expect(readFileSync(join(sub, 'proc/on-tmpfs'), 'utf8')).toBe('precious');
      expect(existsSync(join(sub, 'before'))).toBe(true);
    } finally {
      execFileSync('umount', [join(sub, 'proc')]);
    }
    await removeTree(sub);
    expect(existsSync(sub)).toBe(false);
  });

  it('an unprivileged owner removes its subvolume (destroy refused: emptied and rmdir-ed)', async (ctx) => {
    if (!mount) return ctx.skip(skipReason);
    const home = fresh('nobody');
    mkdirSync(home, { mode: 0o755 });
    execFileSync('chown', ['65534:65534', home]);
    const sub = join(home, 'sub');
    const rec = recording();
    await asNobody(async () => {
      withDirFd(home, (fd) => createSubvolume(fd, 'sub', sub));
      mkdirSync(join(sub, 'd'));
      writeFileSync(join(sub, 'd/f'), 'mine');
      withDirFd(sub, (fd) => setReadOnly(fd, true, sub));
      await withBtrfsBinding(rec, () => removeTree(sub));
    });
    expect(existsSync(sub)).toBe(false);
    // not allowed to destroy (no user_subvol_rm_allowed): made writable, emptied, rmdir-ed
    expect(rec.calls).toEqual(['SNAP_DESTROY:EPERM', 'SUBVOL_GETFLAGS:ok', 'SUBVOL_GETFLAGS:ok', 'SUBVOL_SETFLAGS:ok']);
  });

  it('Snapshots.remove and gc remove read-only subvolume snapshots and temp subvolumes of dead builders', async (ctx) => {
    if (!mount) return ctx.skip(skipReason);
    const s = new Snapshots({ root: fresh('gc'), store });
    const a = await s.ensure({ image: await putImage(store, [[{ path: 'a', content: 'a' }]]) });
    const b = await s.ensure({ image: await putImage(store, [[{ path: 'b', content: 'b' }]]) });
    const c = await s.ensure({ image: await putImage(store, [[{ path: 'c', content: 'c' }]]) });
    for (const x of [a, b, c]) expect(isSubvolumeRoot(x.path)).toBe(true);
    // what a SIGKILLed builder leaves: a temp subvolume
    const stale = join(s.root, '.tmp', `${Digest.of('crashed').hex}.dead01`);
    withDirFd(join(s.root, '.tmp'), (fd) => createSubvolume(fd, basename(stale), stale));
    writeFileSync(join(stale, 'half'), 'partial');
    // a container made from c is not in the way of c's removal
    const container = fresh('from-c');
    expect((await createRootfs({ snapshot: c.path, dest: container })).method).toBe('snapshot');

    await s.remove(a.chainId);
    expect(existsSync(a.path)).toBe(false);
    const result = await s.gc({ keep: [b.chainId] });
    expect(result.removed).toEqual([c.chainId.toString()]);
    expect(result.temporary).toEqual([basename(stale)]);
    expect((await s.list()).map(String)).toEqual([b.chainId.toString()]);
    expect(readdirSync(join(s.root, '.tmp'))).toEqual([]);
    expect(readFileSync(join(container, 'c'), 'utf8')).toBe('c');
    await removeTree(container);
  });

  it('falls back to the walk: plain directory source, existing destination, nested subvolumes, another file system', async (ctx) => {
    if (!mount) return ctx.skip(skipReason);
    const image = await putImage(store, [layerA, layerB]);
    const { path: snapshot } = await snaps.ensure({ image });

    // a plain directory on btrfs (a snapshot made before subvolumes were used)
    const plain = fresh('plain-src');
    mkdirSync(plain);
    writeFileSync(join(plain, 'f'), 'data');
    expect((await createRootfs({ snapshot: plain, dest: fresh('from-plain') })).method).toBe('reflink');

    // dest exists (empty): filled in place by the walk
    const existing = fresh('existing');
    mkdirSync(existing);
    const logs: string[] = [];
    const r1 = await createRootfs({ snapshot, dest: existing, log: (m) => logs.push(m) });
    expect(r1.method).toBe('reflink');
    expect(logs.join('\n')).toContain('exists');
    expect(compareTrees(snapshot, existing)).toEqual([]);

    // a subvolume with a subvolume nested in it: a snapshot would leave that empty
    const outer = fresh('outer');
    withDirFd(mount.dir, (fd) => createSubvolume(fd, basename(outer), outer));
    withDirFd(outer, (fd) => createSubvolume(fd, 'inner', join(outer, 'inner')));
    writeFileSync(join(outer, 'inner/f'), 'nested data');
    const logs2: string[] = [];
    const dest2 = fresh('from-outer');
    const r2 = await createRootfs({ snapshot: outer, dest: dest2, log: (m) => logs2.push(m) });
    expect(r2.method).toBe('reflink');
    expect(logs2.join('\n')).toContain('nested subvolume');
    expect(readFileSync(join(dest2, 'inner/f'), 'utf8')).toBe('nested data');

    // dest on ext4 (the temp dir)
    const logs3: string[] = [];
    const r3 = await createRootfs({ snapshot, dest: join(base, 'on-ext4'), log: (m) => logs3.push(m) });
    expect(r3.method).toBe('copy');
    expect(logs3.join('\n')).toContain('not on btrfs');
    expect(compareTrees(snapshot, join(base, 'on-ext4'))).toEqual([]);
    for (const d of [outer, dest2, existing, plain]) await removeTree(d);
  });

  it('falls back when the kernel refuses the snapshot: another btrfs (EXDEV), not the owner (EPERM), or an injected refusal', async (ctx) => {
    if (!mount) return ctx.skip(skipReason);
    const image = await putImage(store, [layerA]);
    const { path: snapshot } = await snaps.ensure({ image });

    // EXDEV, for real: a second btrfs
    const other = loopMount('btrfs', 200);
    if (typeof other !== 'string') {
      try {
        const logs: string[] = [];
        const dest = join(other.dir, 'c');
        const r = await createRootfs({ snapshot, dest, log: (m) => logs.push(m) });
        expect(r.method).toBe('copy'); // no reflink across file systems either
        expect(logs.join('\n')).toMatch(/EXDEV: ioctl BTRFS_IOC_SNAP_CREATE_V2/);
        expect(compareTrees(snapshot, dest)).toEqual([]);
      } finally {
        other.cleanup();
      }
    }

    // EPERM, for real: an unprivileged user may snapshot only subvolumes it owns
    const src = fresh('root-owned');
    withDirFd(mount.dir, (fd) => createSubvolume(fd, basename(src), src));
    chmodSync(src, 0o755);
    writeFileSync(join(src, 'f'), 'readable', { mode: 0o644 });
    const home = fresh('home');
    mkdirSync(home, { mode: 0o777 });
    chmodSync(home, 0o777);
    const dest = join(home, 'c');
    const logs: string[] = [];
    const r = await asNobody(() => createRootfs({ snapshot: src, dest, log: (m) => logs.push(m) }));
    expect(r.method).toBe('reflink');
    expect(logs.join('\n')).toMatch(/EPERM: ioctl BTRFS_IOC_SNAP_CREATE_V2/);
    expect(readFileSync(join(dest, 'f'), 'utf8')).toBe('readable');
    expect(lstatSync(dest).ino).not.toBe(256);

    // injected: any refusal falls back, with the reason in the log
    const binding = refusing(BTRFS_IOC_SNAP_CREATE_V2, 'EINVAL');
    const logs2: string[] = [];
    const dest2 = fresh('injected');
    const r2 = await withBtrfsBinding(binding, () => createRootfs({ snapshot, dest: dest2, log: (m) => logs2.push(m) }));
    expect(binding.calls).toEqual(['GET_SUBVOL_ROOTREF:ok', 'SNAP_CREATE_V2:EINVAL']);
    expect(r2.method).toBe('reflink');
    expect(logs2.join('\n')).toContain("btrfs snapshot of " + snapshot + " not possible (EINVAL: ioctl BTRFS_IOC_SNAP_CREATE_V2");
    expect(compareTrees(snapshot, dest2)).toEqual([]);

    // out of space is no refusal: the copy fails, and leaves nothing
    const dest3 = fresh('nospace');
    const err = await withBtrfsBinding(refusing(BTRFS_IOC_SNAP_CREATE_V2, 'ENOSPC'), () => createRootfs({ snapshot, dest: dest3 })).catch((e: unknown) => e);
    expect(isBerthError(err, 'EROOTFS')).toBe(true);
    expect((err as Error).message).toMatch(/^create rootfs .*: btrfs snapshot: ENOSPC/);
    expect(existsSync(dest3)).toBe(false);
    for (const d of [src, home, dest2]) await removeTree(d);
  });

  it('Snapshots builds in a plain directory when the subvolume is refused, and createRootfs then walks', async (ctx) => {
    if (!mount) return ctx.skip(skipReason);
    const logs: string[] = [];
    const s = new Snapshots({ root: fresh('refused'), store, log: (m) => logs.push(m) });
    const image = await putImage(store, [[{ path: 'only', content: 'plain' }]]);
    const { path } = await withBtrfsBinding(refusing(BTRFS_IOC_SUBVOL_CREATE, 'EPERM'), () => s.ensure({ image }));
    expect(isSubvolumeRoot(path)).toBe(false);
    expect(logs.join('\n')).toMatch(/cannot create a btrfs subvolume \(EPERM: ioctl BTRFS_IOC_SUBVOL_CREATE .*\): building in a plain directory/);
    expect((await createRootfs({ snapshot: path, dest: fresh('from-plain-snapshot') })).method).toBe('reflink');
    // and an unsealable one stays usable (logged)
    const s2 = new Snapshots({ root: fresh('unsealed'), store, log: (m) => logs.push(m) });
    const { path: p2 } = await withBtrfsBinding(refusing(BTRFS_IOC_SUBVOL_SETFLAGS, 'EPERM'), () => s2.ensure({ image }));
    expect(isSubvolumeRoot(p2)).toBe(true);
    expect(logs.join('\n')).toContain('left writable');
    expect((await createRootfs({ snapshot: p2, dest: fresh('from-unsealed') })).method).toBe('snapshot');
  });

  it('unpackImage reports the snapshot method', async (ctx) => {
    if (!mount) return ctx.skip(skipReason);
    const image = await putImage(store, [layerA, layerB]);
    const { path } = await snaps.ensure({ image });
    const dest = fresh('unpacked');
    const r = await unpackImage({ store, snapshots: snaps, image, dest });
    expect(r).toMatchObject({ method: 'snapshot', snapshot: path, files: undefined });
    expect(compareTrees(path, dest)).toEqual([]);
  });
});

describe('on ext4 (the temp dir) nothing changes', () => {
  it('snapshots are plain directories and copies walk', async (ctx) => {
    const base = mkdtempSync(join(tmpdir(), 'berth-rootfs-btrfs-ext4-'));
    try {
      if (onBtrfs(base)) return ctx.skip('the temp dir is on btrfs (covered by the loop-mount tests)');
      const store = await Store.open({ root: join(base, 'store') });
      const s = new Snapshots({ root: join(base, 'snapshots'), store });
      const { path } = await s.ensure({ image: await putImage(store, [layerA]) });
      expect(lstatSync(path).ino).not.toBe(256);
      const r = await createRootfs({ snapshot: path, dest: join(base, 'c') });
      expect(['reflink', 'copy']).toContain(r.method);
      expect(typeof r.files).toBe('number');
      await s.remove((await s.list())[0] as Digest);
      expect(existsSync(path)).toBe(false);
    } finally {
      rmSync(base, { recursive: true, force: true });
    }
  });
});
