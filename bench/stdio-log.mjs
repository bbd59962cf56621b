#!/usr/bin/env node
// The cost of keeping a foreground container's log (docker's default, berth's since #13):
// `berth run --rm --network none -v DIR:/data:ro alpine cat /data/256MiB | wc -c` with the log kept
// (the default: the relay queues each chunk as a frame of container.out, packages/runtime/src/lifecycle/raw-log.ts) against
// the same with `--log-driver none`, interleaved, median wall time, and the ratio. The peer is berth
// itself: what the log adds, under the same load. (bench/stdio.mjs compares the whole run with podman.)
//
//   npm run build && sudo node bench/stdio-log.mjs [--runs 7] [--mib 256] [--no-write]
//
// Writes the "## foreground log (stdio relay)" section of bench/RESULTS.md.
import { execFileSync, spawnSync } from 'node:child_process';
import { randomFillSync } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { benchSandbox, loadavg, median, needPodmanPeer, writeResultsSection } from './common.mjs';

const { values: opts } = parseArgs({ options: { runs: { type: 'string', default: '7' }, mib: { type: 'string', default: '256' }, 'no-write': { type: 'boolean', default: false } } });
const runs = Math.max(1, Number(opts.runs) || 7);
const mib = Math.max(1, Number(opts.mib) || 256);
// needPodmanPeer for its checks (root, the alpine layout, a built CLI); podman itself is not run.
const { images, cli } = needPodmanPeer('stdio-log');
const { tmp, env } = benchSandbox('stdio-log');
const q = (s) => `'${s.replace(/'/g, `'\\''`)}'`;
const data = path.join(tmp, 'data');
const file = `${mib}MiB`;
const size = mib * 1024 * 1024;
const argv = (...flags) => [process.execPath, cli, 'run', '--rm', '--network', 'none', ...flags, '-v', `${data}:/data:ro`, 'alpine', 'cat', `/data/${file}`];
const variants = { kept: argv(), none: argv('--log-driver', 'none') };

function time(cmd) {
  const t0 = performance.now();
  const r = spawnSync('sh', ['-c', `${cmd.map(q).join(' ')} | wc -c`], { env, encoding: 'utf8' });
  const wall = performance.now() - t0;
  if (r.status !== 0 || Number(r.stdout.trim()) !== size) throw new Error(`${cmd.join(' ')}: status ${r.status}, counted ${r.stdout.trim()}, stderr ${r.stderr.slice(0, 300)}`);
  return wall;
}

try {
  fs.mkdirSync(data);
  const fd = fs.openSync(path.join(data, file), 'w');
  const chunk = Buffer.alloc(1 << 20);
  for (let i = 0; i < mib; i++) fs.writeSync(fd, randomFillSync(chunk));
  fs.closeSync(fd);
  execFileSync(process.execPath, [cli, 'load', '-q', '-i', path.join(images, 'alpine'), '--repository', 'docker.io/library/alpine'], { env, stdio: 'inherit' });
  for (const v of Object.values(variants)) time(v);
  const loads = [loadavg()];
  const res = { kept: [], none: [] };
  for (let i = 0; i < runs; i++) {
    for (const who of i % 2 === 0 ? ['kept', 'none'] : ['none', 'kept']) res[who].push(time(variants[who]));
  }
  loads.push(loadavg());
  const m = { kept: median(res.kept), none: median(res.none) };
  const lines = [
    '## foreground log (stdio relay)',
    '',
    `Date: ${new Date().toISOString().slice(0, 10)}. Machine: ${os.cpus().length} CPUs (nproc), ${os.cpus()[0]?.model ?? 'unknown CPU'}, Linux ${os.release()}, Node ${process.version}. Load average (1/5/15 min) at the start and end: ${loads.join(' → ')}.`,
    `Produced by \`node bench/stdio-log.mjs\` (root): \`berth run --rm --network none -v …:/data:ro alpine cat /data/${file} | wc -c\`, ${runs} interleaved runs of each, median wall time.`,
    '',
    '| log | wall | / none |',
    '| --- | --- | --- |',
    `| \`--log-driver none\` | ${m.none.toFixed(0)} ms | 1.00× |`,
    `| kept (default: frames in container.out, encoded when read) | ${m.kept.toFixed(0)} ms | **${(m.kept / m.none).toFixed(2)}×** |`,
    '',
    `All wall times: kept ${res.kept.map(Math.round).join(', ')}; none ${res.none.map(Math.round).join(', ')} ms.`,
    '',
  ];
  const section = `${lines.join('\n')}\n`;
  console.log(`\n${section}`);
  if (!opts['no-write']) writeResultsSection('foreground log (stdio relay)', section);
} finally {
  fs.rmSync(tmp, { recursive: true, force: true });
}
