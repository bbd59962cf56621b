// Per-container rootfs copy: berth's createRootfs vs `cp -a` of the same
// snapshot (ext4 temp dir), and the reflink path on a loop-mounted btrfs
// (createRootfs vs `cp -a --reflink=always`).
//
//   npm run build && node bench/copy.mjs [--runs N] [--no-large]
//
// createRootfs is timed in-process (how `berth run` calls it) and, for
// comparison with cp's process start-up, also in its own node process.
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { createRootfs, removeTree, Snapshots } from '@berth/rootfs';
import { Store } from '@berth/store';
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

const { values } = parseArgs({ options: { runs: { type: 'string' }, 'no-large': { type: 'boolean' } } });
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
    const { path } = await snapshots.ensure({ image: await store.getImage(`localhost/bench/${short}:latest`) });
    snaps.push({ name, short, path, stats: treeStats(path), runs: Number(values.runs ?? (short === 'large' ? 5 : 15)) });
  }

  for (const s of snaps) {
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
      const snap = join(mount.dir, 'snapshots', s.short);
      await createRootfs({ snapshot: s.path, dest: snap });
      const dest = join(mount.dir, 'containers', s.short);
      const prepare = async () => {
        await removeTree(dest);
        sync();
      };
      let method = '';
      console.log(`reflink ${s.name}: ${s.runs} runs each…`);
      const [berth, cp] = await compare(s.runs, [
        {
          name: 'createRootfs',
          prepare,
          run: () =>
            timeAsync(async () => {
              method = (await createRootfs({ snapshot: snap, dest })).method;
            }),
        },
        { name: 'cp -a --reflink=always', prepare, run: () => timeCommand('cp', ['-a', '--reflink=always', snap, dest]) },
      ]);
      reflinkRows.push({ ...s, berth, cp, method });
      console.log(`  createRootfs (${method}) ${cell(berth)} | cp -a --reflink=always ${cell(cp)} ${ratio(berth, cp)}`);
    }
  }
} finally {
  mount?.cleanup();
  rmSync(work, { recursive: true, force: true });
}

const runsNote = (rows) => rows.map((r) => r.runs).join('/');
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
writeResults(
  'copy: reflink on btrfs',
  reflinkRows.length === 0
    ? reflinkNote
    : `| snapshot | createRootfs | fastest run | method | cp -a --reflink=always | fastest run | createRootfs / cp |
| --- | --- | --- | --- | --- | --- | --- |
${reflinkRows.map((r) => `| ${r.name} | ${cell(r.berth)} | ${fastest(r.berth)} | ${r.method} | ${cell(r.cp)} | ${fastest(r.cp)} | ${ratio(r.berth, r.cp)} |`).join('\n')}

Snapshot and copy on one loop-mounted btrfs (2 GiB sparse image file on the same disk, unmounted and detached afterwards), medians of ${runsNote(reflinkRows)} interleaved runs. Target: alpine < 10 ms.
`,
);
