#!/usr/bin/env node
// TCP throughput from the host to a published port: a 256 MiB file served by `httpd` in a
// busybox container (alpine's busybox has no httpd), published on 127.0.0.1 (`-p 127.0.0.1:PORT:80`: portmap's DNAT and,
// for loopback, its SNAT through the bridge), fetched with `curl -o /dev/null`. berth's default
// bridge against podman's default network (netavark's iptables DNAT here, or the CNI portmap
// plugin with podman's CNI backend), both servers up at once, fetches interleaved, median MB/s.
//
//   npm run build && sudo node bench/throughput.mjs [--runs 7] [--mib 256] [--no-write]
//
// berth runs in a throwaway BERTH_ROOT on its own bridge and subnet (removed at the end, with the
// CVE-2020-8558 rule berth puts on it); podman's container is removed, its network stays.
// Writes the "## TCP throughput to a published port" section of bench/RESULTS.md.
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { benchSandbox, loadavg, median, needPodmanPeer, writeResultsSection } from './common.mjs';

const { values: opts } = parseArgs({ options: { runs: { type: 'string', default: '7' }, mib: { type: 'string', default: '256' }, 'no-write': { type: 'boolean', default: false } } });
const runs = Math.max(1, Number(opts.runs) || 7);
const mib = Math.max(1, Number(opts.mib) || 256);
const TARGET = 0.9;
const { images, cli } = needPodmanPeer('throughput');
const bridge = `btput${process.pid % 10000}`;
const { tmp, env } = benchSandbox('throughput', { BERTH_DEFAULT_BRIDGE: bridge, BERTH_DEFAULT_SUBNET: '10.238.250.0/24' });
const name = `bench-put-${process.pid}`;

async function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
    s.once('error', reject);
  });
}

const serve = `mkdir -p /www && dd if=/dev/zero of=/www/big bs=1M count=${mib} 2>/dev/null && exec httpd -f -p 80 -h /www`;

/** MB/s of one fetch (curl's average download speed), after the server answers. */
function fetch(port) {
  const out = execFileSync('curl', ['-sS', '-o', '/dev/null', '--max-time', '120', '-w', '%{speed_download} %{size_download}', `http://127.0.0.1:${port}/big`], { encoding: 'utf8' });
  const [speed, size] = out.trim().split(' ').map(Number);
  if (size !== mib * 1024 * 1024) throw new Error(`fetched ${size} bytes from port ${port}, expected ${mib} MiB`);
  return speed / 1e6;
}

function waitServing(port) {
  for (let i = 0; i < 300; i++) {
    if (spawnSync('curl', ['-sSf', '-o', '/dev/null', '--max-time', '2', '-r', '0-0', `http://127.0.0.1:${port}/big`]).status === 0) return;
    spawnSync('sleep', ['0.2']);
  }
  throw new Error(`nothing serves 127.0.0.1:${port}`);
}

try {
  execFileSync(process.execPath, [cli, 'load', '-q', '-i', path.join(images, 'busybox'), '--repository', 'docker.io/library/busybox'], { env, stdio: 'inherit' });
  if (spawnSync('podman', ['image', 'exists', 'docker.io/library/busybox:latest']).status !== 0) {
    execFileSync('skopeo', ['copy', '--quiet', `oci:${path.join(images, 'busybox')}:latest`, 'containers-storage:docker.io/library/busybox:latest'], { stdio: 'inherit' });
  }
  const [pb, pp] = [await freePort(), await freePort()];
  execFileSync(process.execPath, [cli, 'run', '-d', '--name', name, '-p', `127.0.0.1:${pb}:80`, 'busybox', 'sh', '-c', serve], { env, stdio: ['ignore', 'ignore', 'inherit'] });
  execFileSync('podman', ['--runtime', 'runc', 'run', '-d', '--ulimit', 'nofile=1024:1024', '--ulimit', 'nproc=1024:1024', '--name', name, '-p', `127.0.0.1:${pp}:80`, 'busybox', 'sh', '-c', serve], { stdio: ['ignore', 'ignore', 'inherit'] });
  waitServing(pb);
  waitServing(pp);
  fetch(pb);
  fetch(pp);
  const loads = [loadavg()];
  const res = { berth: [], podman: [] };
  for (let i = 0; i < runs; i++) {
    for (const who of i % 2 === 0 ? ['berth', 'podman'] : ['podman', 'berth']) res[who].push(fetch(who === 'berth' ? pb : pp));
  }
  loads.push(loadavg());
  const s = { berth: median(res.berth), podman: median(res.podman) };
  const ratio = s.berth / s.podman;
  const section = [
    '## TCP throughput to a published port',
    '',
    `\`node bench/throughput.mjs --runs ${runs} --mib ${mib}\` (${new Date().toISOString().slice(0, 10)}, ${os.cpus().length} CPUs, load ${loads.join(' → ')}): a ${mib} MiB file served by`,
    "busybox `httpd`, published on 127.0.0.1, fetched from the host with `curl -o /dev/null`; berth's default bridge against podman's default network, interleaved, medians of",
    `${runs} (MB/s = 10^6 bytes/s).`,
    '',
    '| | MB/s | min | max |',
    '| --- | ---: | ---: | ---: |',
    `| berth (bridge, -p 127.0.0.1) | ${s.berth.toFixed(0)} | ${Math.min(...res.berth).toFixed(0)} | ${Math.max(...res.berth).toFixed(0)} |`,
    `| podman (default network, -p 127.0.0.1) | ${s.podman.toFixed(0)} | ${Math.min(...res.podman).toFixed(0)} | ${Math.max(...res.podman).toFixed(0)} |`,
    '',
    `berth / podman: ${ratio.toFixed(2)} (target ≥ ${TARGET}: ${ratio >= TARGET ? 'met' : 'not met'}).`,
    '',
  ].join('\n');
  console.log(section);
  if (!opts['no-write']) writeResultsSection('TCP throughput to a published port', section);
} finally {
  spawnSync(process.execPath, [cli, 'rm', '-f', name], { env, stdio: 'ignore' });
  spawnSync('podman', ['rm', '-f', '-t', '0', name], { stdio: 'ignore' });
  spawnSync(process.execPath, [cli, 'ps', '-a'], { env, stdio: 'ignore' });
  for (const f of fs.existsSync(path.join(tmp, 'state', 'netns')) ? fs.readdirSync(path.join(tmp, 'state', 'netns')) : []) spawnSync('umount', ['-l', path.join(tmp, 'state', 'netns', f)]);
  spawnSync('ip', ['link', 'del', bridge]);
  while (spawnSync('iptables', ['-w', '-t', 'raw', '-D', 'PREROUTING', '-i', bridge, '-d', '127.0.0.0/8', '-m', 'comment', '--comment', 'berth: CVE-2020-8558 guard', '-j', 'DROP']).status === 0);
  fs.rmSync(tmp, { recursive: true, force: true });
}
