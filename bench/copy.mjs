// Per-container rootfs copy: berth's createRootfs vs `cp -a` of the same
// snapshot (ext4 temp dir), and on a loop-mounted btrfs: createRootfs of a
// Snapshots-built subvolume (one BTRFS_IOC_SNAP_CREATE_V2) vs `btrfs subvolume
// snapshot` (the same ioctl from the peer CLI) vs `cp -a --reflink=always`,
// and the reflink walk of a plain-directory snapshot (the method before
// subvolumes) for reference.
//
//   npm run build && node bench/copy.mjs [--runs N] [--btrfs-runs N] [--no-large] [--btrfs-only]
//
// createRootfs is timed in-process (how `berth run` calls it) and, for
// comparison with the CLIs' process start-up, also in its own node process.
// --btrfs-only measures and rewrites only the "copy: reflink on btrfs" table.
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { createRootfs, removeTree, Snapshots } from '@berth/rootfs';
import { Store } from '@berth/store';
import { loadavg } from './common.mjs';
import {
  benchImages,
  compare,
  fmt,
  linkLayout,
  loopMountBtrfs,
  mib,
  repoRoot,
  requireBuilt,
  sync,
  timeAsync,
  timeCommand,
  treeStats,
  writeResults,
} from './unpack.lib.mjs';

const { values } = parseArgs({
  options: { runs: { type: 'string' }, 'btrfs-runs': { type: 'string' }, 'no-large': { type: 'boolean' }, 'btrfs-only': { type: 'boolean' } },
});
requireBuilt();

const work = mkdtempSync(join(tmpdir(), 'berth-bench-copy-'));
const one = join(repoRoot, 'bench', 'copy.one.mjs');
const cell = (r) => `${fmt(r.median)} (${fmt(r.cpu)})`;
const fastest = (r) => fmt(r.min);
const ratio = (a, b) => `${(a.median / b.median).toFixed(2)}× (${(a.cpu / b.cpu).toFixed(2)}×)`;
const copyRows = [];
const reflinkRows = [];
let reflinkNote = '';
let mount;
try {
  // the snapshots, built once
  const snaps = [];
  for (const { name, layout } of await benchImages({ large: !values['no-large'] })) {
    const short = name.split(' ')[0];
    const root = join(work, short);
    mkdirSync(root, { recursive: true });
    linkLayout(layout, join(root, 'store'), `localhost/bench/${short}:latest`);
    const store = await Store.open({ root: join(root, 'store') });
    const snapshots = new Snapshots({ root: join(root, 'snapshots'), store });
    const image = await store.getImage(`localhost/bench/${short}:latest`);
    const { path } = await snapshots.ensure({ image });
    snaps.push({ name, short, path, store, image, stats: treeStats(path), runs: Number(values.runs ?? (short === 'large' ? 5 : 15)) });
  }

  for (const s of values['btrfs-only'] ? [] : snaps) {
    const dest = join(work, 'dest');
    const prepare = async () => {
      await removeTree(dest);
      sync();
    };
    console.log(`copy ${s.name}: ${s.runs} runs each…`);
    const [berth, cp, own] = await compare(s.runs, [
      { name: 'createRootfs', prepare, run: () => timeAsync(() => createRootfs({ snapshot: s.path, dest })) },
      { name: 'cp -a', prepare, run: () => timeCommand('cp', ['-a', s.path, dest]) },
      { name: 'createRootfs, own process', prepare, run: () => timeCommand(process.execPath, [one, s.path, dest]) },
    ]);
    copyRows.push({ ...s, berth, cp, own });
    console.log(`  createRootfs ${cell(berth)} | cp -a ${cell(cp)} ${ratio(berth, cp)} | own process ${cell(own)} ${ratio(own, cp)}`);
  }

  const m = loopMountBtrfs(2048);
  if (m.error) {
    reflinkNote = `skipped: cannot loop-mount btrfs (${m.error})`;
    console.warn(`reflink: ${reflinkNote}`);
  } else {
    mount = m;
    for (const s of snaps) {
      // The image's snapshot as berth builds it on btrfs: a read-only subvolume, from the same layers.
      const sv = new Snapshots({ root: join(mount.dir, 'snapshots', s.short), store: s.store });
      const { path: snap } = await sv.ensure({ image: s.image });
      // The same tree as a plain directory on the same btrfs: what createRootfs walked before subvolumes.
      const plain = join(mount.dir, 'plain', s.short);
      await createRootfs({ snapshot: s.path, dest: plain });
      const dest = join(mount.dir, 'containers', s.short);
      const prepare = async () => {
        await removeTree(dest);
        sync();
      };
      const runs = Number(values['btrfs-runs'] ?? (s.short === 'large' ? 3 : 7));
      const methods = { snapshot: new Set(), plain: new Set() };
      const loadBefore = loadavg();
      console.log(`btrfs ${s.name}: ${runs} runs each (load ${loadBefore})…`);
      const [berth, own, btrfs, cp, walk] = await compare(runs, [
        {
          name: 'createRootfs',
          prepare,
          run: () => timeAsync(async () => methods.snapshot.add((await createRootfs({ snapshot: snap, dest })).method)),
        },
        { name: 'createRootfs, own process', prepare, run: () => timeCommand(process.execPath, [one, snap, dest]) },
        { name: 'btrfs subvolume snapshot', prepare, run: () => timeCommand('btrfs', ['-q', 'subvolume', 'snapshot', snap, dest]) },
        { name: 'cp -a --reflink=always', prepare, run: () => timeCommand('cp', ['-a', '--reflink=always', snap, dest]) },
        {
          name: 'createRootfs, plain-dir snapshot',
          prepare,
          run: () => timeAsync(async () => methods.plain.add((await createRootfs({ snapshot: plain, dest })).method)),
        },
      ]);
      const row = { ...s, runs, berth, own, btrfs, cp, walk, method: [...methods.snapshot].join('/'), walkMethod: [...methods.plain].join('/'), load: `${loadBefore} → ${loadavg()}` };
      reflinkRows.push(row);
      console.log(
        `  createRootfs (${row.method}) ${cell(berth)} fastest ${fastest(berth)} | own process ${cell(own)} | btrfs subvolume snapshot ${cell(btrfs)} fastest ${fastest(btrfs)} | cp -a --reflink=always ${cell(cp)} fastest ${fastest(cp)} | plain-dir walk (${row.walkMethod}) ${cell(walk)} fastest ${fastest(walk)}`,
      );
    }
  }
} finally {
  mount?.cleanup();
  rmSync(work, { recursive: true, force: true });
}

const runsNote = (rows) => rows.map((r) => r.runs).join('/');
if (!values['btrfs-only']) {
  writeResults(
    'copy: container rootfs vs cp -a',
    `| snapshot | size | createRootfs (in-process) | cp -a | createRootfs / cp -a | fastest run: createRootfs / cp -a | createRootfs in its own node process | own process / cp -a |
| --- | --- | --- | --- | --- | --- | --- | --- |
${copyRows
  .map(
    (r) =>
      `| ${r.name} | ${mib(r.stats.bytes)}, ${r.stats.entries} entries | ${cell(r.berth)} | ${cell(r.cp)} | **${ratio(r.berth, r.cp)}** | ${fastest(r.berth)} / ${fastest(r.cp)} | ${cell(r.own)} | ${ratio(r.own, r.cp)} |`,
  )
  .join('\n')}

ext4 (the temp dir's file system: no reflinks, data copied by copy_file_range). Each cell: median wall time and, in parentheses, CPU time (user + sys), of ${runsNote(copyRows)} interleaved runs, page cache warm, \`sync\` before each run. cp -a and "own process" include process start-up; \`berth run\` calls createRootfs in-process. Target: createRootfs ≤ 1.0× cp -a.
`,
  );
}
writeResults(
  'copy: reflink on btrfs',
  reflinkRows.length === 0
    ? reflinkNote
    : `| snapshot | createRootfs (in-process) | fastest run | method | createRootfs in its own node process | btrfs subvolume snapshot | fastest run | cp -a --reflink=always | fastest run | before: createRootfs of a plain-dir snapshot | fastest run | load average (1/5/15) before → after |
| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |
${reflinkRows
  .map(
    (r) =>
      `| ${r.name} | **${cell(r.berth)}** | **${fastest(r.berth)}** | ${r.method} | ${cell(r.own)} | ${cell(r.btrfs)} | ${fastest(r.btrfs)} | ${cell(r.cp)} | ${fastest(r.cp)} | ${cell(r.walk)} | ${fastest(r.walk)} (${r.walkMethod}) | ${r.load} |`,
  )
  .join('\n')}

All on one loop-mounted btrfs (2 GiB sparse image file on the VM's disk; unmounted and detached afterwards). The source is the image's snapshot as \`Snapshots.ensure\` builds it there: a read-only subvolume, so createRootfs makes each container with one \`BTRFS_IOC_SNAP_CREATE_V2\` (method "snapshot"); \`btrfs subvolume snapshot\` is the peer CLI making the same ioctl. "before" is createRootfs of the same tree kept as a plain directory on the same btrfs (snapshots made before subvolumes were used): the per-file reflink walk. Each cell: median wall time and, in parentheses, CPU time (user + sys; for the CLIs from /usr/bin/time, 10 ms resolution), of ${runsNote(reflinkRows)} interleaved runs; the destination is removed and \`sync\` run before each run, untimed. The CLIs and "own process" include process start-up; \`berth run\` calls createRootfs in-process. Target: alpine < 10 ms.
`,
);
