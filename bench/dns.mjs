#!/usr/bin/env node
// Name lookups on a user-defined network: berth's resolver (aardvark-dns on the network's
// gateway, started with the network's first container) asked for a container's name, N
// sequential queries from the host with node's resolver (c-ares, one try, no cache): median,
// p90 and p99 latency. (Outside names are forwarded only for the network's containers, not for
// the host asking, so forwarding is not timed here.) Plus the price of the resolver at start-up:
// `berth run -d` of the network's first container with it and without it (BERTH_AARDVARK_DNS=''
// turns it off), medians of --runs.
// When podman's network backend is netavark (podman 4.3 picks it when netavark is installed),
// the same lookup of a container's name on a podman network (its aardvark-dns, one for all of
// podman's networks) is measured next to berth's; with the CNI backend podman has no DNS
// between containers (the dnsname plugin is not in Debian 12) and the row is left out.
//
//   npm run build && sudo node bench/dns.mjs [--queries 500] [--runs 5] [--no-write]
//
// Everything runs in a throwaway BERTH_ROOT/BERTH_STATE with its own bridges, removed at the end.
// Writes the "## name lookups on a user network" section of bench/RESULTS.md.
import { execFileSync, spawnSync } from 'node:child_process';
import { Resolver } from 'node:dns/promises';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { benchSandbox, loadavg, median, needFor, writeResultsSection } from './common.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const { values: opts } = parseArgs({
  options: { queries: { type: 'string', default: '500' }, runs: { type: 'string', default: '5' }, 'no-write': { type: 'boolean', default: false } },
});
const queries = Math.max(10, Number(opts.queries) || 500);
const runs = Math.max(1, Number(opts.runs) || 5);
const need = needFor('dns');
need(process.getuid?.() === 0, 'needs root (networks)');
need(fs.existsSync('/usr/lib/podman/aardvark-dns'), 'aardvark-dns not found (Debian package aardvark-dns)');
const images = fileURLToPath(new URL('../../shared/images', import.meta.url));
need(fs.existsSync(path.join(images, 'alpine', 'index.json')), `no OCI layout at ${images}/alpine`);
const cli = path.join(here, '..', 'packages', 'cli', 'dist', 'bin.js');
need(fs.existsSync(cli), 'packages/cli/dist/bin.js is missing: run `npm run build` first');
const bridge = `btdns${process.pid % 10000}`;
const { tmp, env } = benchSandbox('dns', { BERTH_DEFAULT_BRIDGE: bridge, BERTH_DEFAULT_SUBNET: '10.238.252.0/24' });
const net = `benchdns${process.pid}`;
const pnet = `benchdns${process.pid}`;
const pname = `benchdns-server-${process.pid}`;
const podmanBackend = spawnSync('podman', ['info', '--format', '{{.Host.NetworkBackend}}'], { encoding: 'utf8' }).stdout?.trim();
const subnet = '10.238.251.0/24';
const gateway = '10.238.251.1';
const berth = (args, e = env) => execFileSync(process.execPath, [cli, ...args], { env: e, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] }).trim();
const q = (xs, p) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(xs.length * p))];
const f2 = (x) => x.toFixed(2);

async function lookups(server, name) {
  const r = new Resolver({ timeout: 2000, tries: 1 });
  r.setServers([server]);
  await r.resolve4(name);
  const ms = [];
  for (let i = 0; i < queries; i++) {
    const t = performance.now();
    await r.resolve4(name);
    ms.push(performance.now() - t);
  }
  return ms;
}

function firstContainerMs(e) {
  const times = [];
  for (let i = 0; i < runs; i++) {
    const t = performance.now();
    const id = berth(['run', '-d', '--network', net, '--name', `first${i}`, 'alpine', 'sleep', '60'], e);
    times.push(performance.now() - t);
    berth(['rm', '-f', id], e);
  }
  return median(times);
}

try {
  berth(['load', '-q', '-i', path.join(images, 'alpine'), '--repository', 'docker.io/library/alpine']);
  berth(['network', 'create', '--subnet', subnet, net]);
  const withResolver = firstContainerMs(env);
  const withoutResolver = firstContainerMs({ ...env, BERTH_AARDVARK_DNS: '' });
  berth(['run', '-d', '--network', net, '--name', 'server', 'alpine', 'sleep', '600']);
  const loads = [loadavg()];
  const own = await lookups(gateway, 'server');
  const rows = [['`server` (a container, answered by the resolver)', own]];
  if (podmanBackend === 'netavark') {
    if (spawnSync('podman', ['image', 'exists', 'docker.io/library/alpine:latest']).status !== 0) {
      execFileSync('skopeo', ['copy', '--quiet', `oci:${path.join(images, 'alpine')}:latest`, 'containers-storage:docker.io/library/alpine:latest'], { stdio: 'inherit' });
    }
    execFileSync('podman', ['network', 'create', '--subnet', '10.238.253.0/24', pnet], { stdio: 'ignore' });
    execFileSync('podman', ['--runtime', 'runc', 'run', '-d', '--ulimit', 'nofile=1024:1024', '--ulimit', 'nproc=1024:1024', '--network', pnet, '--name', pname, 'alpine', 'sleep', '600'], { stdio: 'ignore' });
    rows.splice(1, 0, [`\`${pname.replace(/-\d+$/, '')}\` on a podman network (podman's aardvark-dns)`, await lookups('10.238.253.1', pname)]);
  }
  loads.push(loadavg());
  const section = [
    '## name lookups on a user network',
    '',
    `\`node bench/dns.mjs --queries ${queries} --runs ${runs}\` (${new Date().toISOString().slice(0, 10)}, ${os.cpus().length} CPUs, load ${loads.join(' → ')}): aardvark-dns ${spawnSync('/usr/lib/podman/aardvark-dns', ['--version'], { encoding: 'utf8' }).stdout.trim().split(' ').at(-1) ?? ''}`,
    `on the gateway of a berth user network, ${queries} sequential A queries from the host (node's resolver, no cache); podman's network backend: ${podmanBackend || 'unknown'}.`,
    '',
    '| query | median ms | p90 ms | p99 ms |',
    '| --- | ---: | ---: | ---: |',
    ...rows.map(([what, ms]) => `| ${what} | ${f2(median(ms))} | ${f2(q(ms, 0.9))} | ${f2(q(ms, 0.99))} |`),
    '',
    `The network's first container, \`berth run -d --network NET alpine sleep 60\` (medians of ${runs}): ${withResolver.toFixed(0)} ms with the resolver`,
    `(aardvark-dns started and asked until it answers), ${withoutResolver.toFixed(0)} ms without (BERTH_AARDVARK_DNS='').`,
    '',
  ].join('\n');
  console.log(section);
  if (!opts['no-write']) writeResultsSection('name lookups on a user network', section);
} finally {
  spawnSync(process.execPath, [cli, 'rm', '-f', 'server'], { env, stdio: 'ignore' });
  if (podmanBackend === 'netavark') {
    spawnSync('podman', ['rm', '-f', '-t', '0', pname], { stdio: 'ignore' });
    spawnSync('podman', ['network', 'rm', pnet], { stdio: 'ignore' });
  }
  spawnSync(process.execPath, [cli, 'network', 'rm', net], { env, stdio: 'ignore' });
  for (const f of fs.existsSync(path.join(tmp, 'state', 'netns')) ? fs.readdirSync(path.join(tmp, 'state', 'netns')) : []) spawnSync('umount', ['-l', path.join(tmp, 'state', 'netns', f)]);
  spawnSync('ip', ['link', 'del', bridge]);
  fs.rmSync(tmp, { recursive: true, force: true });
}
