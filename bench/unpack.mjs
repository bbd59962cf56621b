// `berth unpack` vs `umoci unpack`, side by side, for alpine, busybox and a
// generated 5-layer ~300 MiB image; plus `berth unpack` again with the
// snapshot already built (a second container of the same image).
//
//   npm run build && node bench/unpack.mjs [--runs N] [--no-large]
//
// Every contender is a fresh process (start-up included, as a user sees it);
// runs are interleaved; the page cache is warm for all.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import {
  benchImages,
  compare,
  fmt,
  layoutStats,
  linkLayout,
  mib,
  repoRoot,
  requireBuilt,
  sync,
  timeCommand,
  treeStats,
  writeResults,
} from './unpack.lib.mjs';

const { values } = parseArgs({ options: { runs: { type: 'string' }, 'no-large': { type: 'boolean' } } });
requireBuilt();
if (spawnSync('umoci', ['--version']).status !== 0) {
  console.error('umoci not found (apt-get install umoci)');
  process.exit(2);
}

const work = mkdtempSync(join(tmpdir(), 'berth-bench-unpack-'));
const cli = join(repoRoot, 'packages', 'cli', 'dist', 'bin.js');
const script = join(repoRoot, 'bench', 'unpack.berth.mjs');

/** How berth unpack is run: the CLI when it is built and works, else the script over the packages' dist. */
function berthUnpacker(root, ref) {
  const viaScript = { how: 'bench/unpack.berth.mjs (packages dist)', run: (dest) => timeCommand(process.execPath, [script, root, ref, dest]) };
  if (!existsSync(cli)) return viaScript;
  const viaCli = { how: 'berth CLI (packages/cli/dist/bin.js)', run: (dest) => timeCommand(process.execPath, [cli, 'unpack', '--quiet', ref, dest], { env: { ...process.env, BERTH_ROOT: root } }) };
  const probe = join(work, 'probe');
  try {
    viaCli.run(probe);
    return viaCli;
  } catch (err) {
    console.warn(`berth CLI unpack did not work (${String(err.message).split('\n')[0]}); using the script`);
    return viaScript;
  } finally {
    rmSync(probe, { recursive: true, force: true });
    rmSync(join(root, 'snapshots'), { recursive: true, force: true });
  }
}

const cell = (r) => `${fmt(r.median)} (${fmt(r.cpu)})`;
const ratio = (a, b) => `${(a.median / b.median).toFixed(2)}× (${(a.cpu / b.cpu).toFixed(2)}×)`;

const rows = [];
const notes = new Set();
try {
  for (const { name, layout } of await benchImages({ large: !values['no-large'] })) {
    const short = name.split(' ')[0];
    const runs = Number(values.runs ?? (short === 'large' ? 3 : 9));
    const berthRoot = join(work, short, 'berth');
    const ref = `localhost/bench/${short}:latest`;
    mkdirSync(berthRoot, { recursive: true });
    linkLayout(layout, join(berthRoot, 'store'), ref);
    const umociLayout = join(work, short, 'umoci-layout');
    linkLayout(layout, umociLayout, 'bench');
    const berth = berthUnpacker(berthRoot, ref);
    notes.add(berth.how);
    const dest = join(work, short, 'rootfs');
    const bundle = join(work, short, 'bundle');
    const clean = () => {
      rmSync(dest, { recursive: true, force: true });
      rmSync(bundle, { recursive: true, force: true });
      sync(); // do not bill one contender for the other's writeback
    };
    console.log(`${name}: ${runs} runs each…`);
    const [cold, umoci, raw, warm] = await compare(runs, [
      {
        name: 'berth unpack',
        prepare: () => {
          clean();
          rmSync(join(berthRoot, 'snapshots'), { recursive: true, force: true });
        },
        run: () => berth.run(dest),
      },
      { name: 'umoci unpack', prepare: clean, run: () => timeCommand('umoci', ['unpack', '--image', `${umociLayout}:bench`, bundle]) },
      { name: 'umoci raw unpack', prepare: clean, run: () => timeCommand('umoci', ['raw', 'unpack', '--image', `${umociLayout}:bench`, bundle]) },
      {
        name: 'berth unpack, snapshot built',
        prepare: () => {
          clean();
          if (!existsSync(join(berthRoot, 'snapshots'))) timeCommand(process.execPath, [script, '--ensure', berthRoot, ref]);
        },
        run: () => berth.run(dest),
      },
    ]);
    berth.run(dest);
    const stats = { ...layoutStats(layout), ...treeStats(dest) };
    clean();
    const row = { name, stats, cold, umoci, raw, warm };
    rows.push(row);
    console.log(`  berth ${cell(cold)} | umoci ${cell(umoci)} ${ratio(cold, umoci)} | umoci raw ${cell(raw)} ${ratio(cold, raw)} | berth, snapshot built ${cell(warm)}`);
  }
} finally {
  rmSync(work, { recursive: true, force: true });
}

const table = [
  '| image | layers, compressed → unpacked | berth unpack | umoci unpack | berth / umoci | umoci raw unpack | berth / umoci raw | berth unpack, snapshot built (2nd container) |',
  '| --- | --- | --- | --- | --- | --- | --- | --- |',
  ...rows.map(
    (r) =>
      `| ${r.name} | ${r.stats.layers}, ${mib(r.stats.compressed)} → ${mib(r.stats.bytes)} in ${r.stats.entries} entries | ${cell(r.cold)} | ${cell(r.umoci)} | **${ratio(r.cold, r.umoci)}** | ${cell(r.raw)} | ${ratio(r.cold, r.raw)} | ${cell(r.warm)} |`,
  ),
];
const body = `${table.join('\n')}

Each cell: median wall time of one process (start-up included), and in parentheses its CPU time (user + sys, from /usr/bin/time), medians of ${rows.map((r) => r.cold.runs).join('/')} interleaved runs; berth run as ${[...notes].join(', ')}. "berth unpack" starts with no snapshot of the image: it applies every layer straight into DIR. "snapshot built" is the same command when the image's snapshot exists (as after a \`berth run\` of it): it copies the snapshot into DIR. \`umoci unpack\` also writes config.json and an mtree manifest of the rootfs; \`umoci raw unpack\` only extracts. Target: berth unpack ≤ 0.8× umoci unpack.
`;
console.log(`\n${body}`);
writeResults('unpack: berth vs umoci', body);
