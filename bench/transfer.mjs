#!/usr/bin/env node
// `berth save` and `berth load` against `skopeo copy`, from the same input:
//
//   save: berth save -o FILE REF         vs  skopeo copy oci:STORE:REF docker-archive:FILE:REF
//         (berth's store is an OCI layout: skopeo reads the very blobs berth reads)
//   load: berth load -i FILE (fresh store) vs  skopeo copy docker-archive:FILE oci:DIR:REF (fresh dir)
//         (FILE is the archive berth saved: docker-archive and OCI layout in one tar)
//
//   npm run build && node bench/transfer.mjs [--runs N] [--large-runs N] [--no-large] [--no-write]
//
// Each run is cold for its output (a fresh file, store or directory), the tools alternate,
// one warm-up each is not counted; wall and CPU (user+sys) are medians.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { benchSandbox, loadavg, needFor, which, writeResultsSection } from './common.mjs';
import { benchImages, compare, machine, repoRoot, timeCommand } from './unpack.lib.mjs';

const { values } = parseArgs({
  options: { runs: { type: 'string' }, 'large-runs': { type: 'string' }, 'no-large': { type: 'boolean' }, 'no-write': { type: 'boolean' } },
});
const need = needFor('transfer');
need(which('skopeo'), 'skopeo not found (Debian package skopeo)');
const cli = join(repoRoot, 'packages', 'cli', 'dist', 'bin.js');
need(existsSync(cli), 'packages/cli/dist/bin.js is missing: run `npm run build` first');

const { tmp, env } = benchSandbox('transfer');
const berth = (args) => ['node', [cli, ...args], { env }];
const sec = (ms) => (ms / 1000).toFixed(3);
const rows = [];
const loads = [];
try {
  for (const { name, layout } of await benchImages({ large: !values['no-large'] })) {
    const short = name.split(' ')[0];
    const ref = `localhost/bench/${short}:latest`;
    const entries = JSON.parse(readFileSync(join(layout, 'index.json'), 'utf8')).manifests;
    const tag = entries.map((e) => e.annotations?.['org.opencontainers.image.ref.name']).find((n) => n !== undefined);
    // The input: the image in berth's store (loaded from the layout), for both tools.
    execFileSync('skopeo', ['copy', '--quiet', `oci:${layout}${tag ? `:${tag}` : ''}`, `oci:${join(tmp, `${short}-src`)}:${ref}`]);
    execFileSync('node', [cli, 'load', '-q', '-i', join(tmp, `${short}-src`)], { env, stdio: 'inherit' });
    const store = join(env.BERTH_ROOT, 'store');
    const archive = join(tmp, `${short}.tar`);
    execFileSync('node', [cli, 'save', '-o', archive, ref], { env });
    const size = statSync(archive).size;
    const runs = Number((short === 'large' ? values['large-runs'] : values.runs) ?? (short === 'large' ? 5 : 9));
    const out = join(tmp, 'out');
    const fresh = () => {
      rmSync(out, { recursive: true, force: true });
      mkdirSync(out);
    };
    const time = (cmd, args, opts) => {
      fresh();
      timeCommand(cmd, args, opts); // the warm-up, not counted
      return () => {
        loads.push(Number(loadavg().split(' ')[0]));
        return timeCommand(cmd, args, opts);
      };
    };
    console.log(`${name}: save, ${runs} runs each…`);
    const [bSave, sSave] = await compare(runs, [
      { name: 'berth save', prepare: fresh, run: time(...berth(['save', '-o', join(out, 'a.tar'), ref])) },
      { name: 'skopeo copy', prepare: fresh, run: time('skopeo', ['copy', '--quiet', `oci:${store}:${ref}`, `docker-archive:${join(out, 'a.tar')}:${ref}`]) },
    ]);
    console.log(`${name}: load, ${runs} runs each…`);
    const loadEnv = { ...env, BERTH_ROOT: join(out, 'root') };
    const [bLoad, sLoad] = await compare(runs, [
      { name: 'berth load', prepare: fresh, run: time('node', [cli, 'load', '-q', '-i', archive], { env: loadEnv }) },
      { name: 'skopeo copy', prepare: fresh, run: time('skopeo', ['copy', '--quiet', `docker-archive:${archive}`, `oci:${join(out, 'layout')}:${ref}`]) },
    ]);
    rows.push({ name, size, runs, bSave, sSave, bLoad, sLoad });
    console.log(`  save: berth ${sec(bSave.median)} s / skopeo ${sec(sSave.median)} s; load: berth ${sec(bLoad.median)} s / skopeo ${sec(sLoad.median)} s`);
  }
} finally {
  rmSync(tmp, { recursive: true, force: true });
}

const m = machine();
const skopeoVersion = execFileSync('skopeo', ['--version'], { encoding: 'utf8' }).trim();
const sorted = [...loads].sort((a, b) => a - b);
const mid = sorted[Math.floor(sorted.length / 2)];
const ratio = (a, b) => `${(a.median / b.median).toFixed(2)}×`;
const cpuRatio = (a, b) => `${(a.cpu / b.cpu).toFixed(2)}×`;
const lines = [
  '## save and load',
  '',
  `Date: ${new Date().toISOString().slice(0, 10)}. Measured by \`node bench/transfer.mjs${process.argv.slice(2).length ? ` ${process.argv.slice(2).join(' ')}` : ''}\`: \`berth save -o FILE REF\` vs \`skopeo copy oci:STORE:REF docker-archive:FILE:REF\` (berth's store is an OCI layout, so both read the same blobs), and \`berth load -i FILE\` into a fresh store vs \`skopeo copy docker-archive:FILE oci:DIR:REF\` into a fresh directory, FILE being the archive berth saved. One warm-up each is not counted; the tools alternate.`,
  `Machine: ${m.nproc} CPUs, Linux ${m.kernel}, Node ${m.node}, ${skopeoVersion}; 1-minute load average during the runs ${sorted[0]} to ${sorted.at(-1)} (median ${mid}): the machine was shared with other engineers' builds and tests, so wall times are noisy; CPU time (user+sys) is the steadier number.`,
  '',
  '| image | archive | runs | save berth / skopeo (s) | save ratio | save CPU berth / skopeo (s) | CPU ratio | load berth / skopeo (s) | load ratio | load CPU berth / skopeo (s) | CPU ratio |',
  '| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |',
  ...rows.map(
    (r) =>
      `| ${r.name} | ${(r.size / 1024 / 1024).toFixed(1)} MiB | ${r.runs} | ${sec(r.bSave.median)} / ${sec(r.sSave.median)} | ${ratio(r.bSave, r.sSave)} | ${sec(r.bSave.cpu)} / ${sec(r.sSave.cpu)} | ${cpuRatio(r.bSave, r.sSave)} | ${sec(r.bLoad.median)} / ${sec(r.sLoad.median)} | ${ratio(r.bLoad, r.sLoad)} | ${sec(r.bLoad.cpu)} / ${sec(r.sLoad.cpu)} | ${cpuRatio(r.bLoad, r.sLoad)} |`,
  ),
  '',
];
console.log(lines.join('\n'));
if (!values['no-write']) writeResultsSection('save and load', `${lines.join('\n')}\n`);
