import { execFile, execFileSync, spawn } from 'node:child_process';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { createServer } from 'node:http';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findAardvark } from '@berth/network';
import { sharedImagesDir, toolsMissing } from '@berth/testing';
import { berth, berthBin, mirrorSandbox, mirrorToolsSkip, type MirrorSandbox } from '../helpers/cli.js';

/**
 * Names on user-defined networks (aardvark-dns on the gateway), --ip and --mac-address, and the
 * CVE-2020-8558 guard, through the built CLI as root with Debian's CNI plugins. Each sandbox
 * has its own default bridge and 10.236.N.0/24; the user networks here take 10.238.N.0/24 and
 * 10.239.N.0/24 with the same N, so test files running at once do not collide. Traffic goes
 * only to loopback and to the bridges and namespaces made here.
 */
const images = sharedImagesDir();
const isRoot = process.getuid?.() === 0;
const toolsSkip =
  toolsMissing(['curl', 'ip', 'iptables', 'iptables-save', 'nsenter']) ??
  (existsSync('/usr/lib/cni/bridge') ? undefined : 'no CNI plugins in /usr/lib/cni') ??
  (findAardvark() ? undefined : 'aardvark-dns is not installed (Debian package aardvark-dns)');

function sh(cmd: string, args: string[]): string {
  return execFileSync(cmd, args, { encoding: 'utf8' });
}

function readdirSafe(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}

/** The processes whose command line names `text` (the resolvers of a sandbox: their config dir is under its BERTH_STATE). */
function processesNaming(text: string): string[] {
  const out: string[] = [];
  for (const pid of readdirSafe('/proc').filter((p) => /^\d+$/.test(p))) {
    try {
      const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ');
      if (cmd.includes(text) && !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'))) out.push(`${pid} ${cmd}`);
    } catch {
      // gone
    }
  }
  return out;
}

describe.skipIf(!!mirrorToolsSkip || !!toolsSkip || !images || !isRoot)('names, addresses and the localnet guard on berth networks (as root, real plugins)', () => {
  let box: MirrorSandbox;
  let n = 0;
  const env = () => box.env;
  const b = (args: string[]) => berth(args, { env: env() });
  const state = () => env()['BERTH_STATE'] as string;
  const root = () => env()['BERTH_ROOT'] as string;
  const inspect = async (name: string) => JSON.parse((await b(['container', 'inspect', name])).stdout)[0] as { Id: string; NetworkSettings: { Networks: Record<string, { IPAddress: string; MacAddress: string }> } };

  /** What a user network and its containers leave on the host: links on its bridge, rules naming its subnet, leases, namespaces, resolvers. */
  const footprint = (prefix: string, bridge: string, net: string) => {
    const links = sh('ip', ['-o', 'link', 'show']).split('\n').filter((l) => l.includes(`master ${bridge} `) || l.includes(`: ${bridge}:`)).map((l) => l.replace(/^\d+: /, '').split(':')[0]);
    const all = sh('iptables-save', []).split('\n').filter((l) => !l.startsWith('#') && !/^:/.test(l));
    const chains = new Set(all.filter((l) => l.includes(prefix)).flatMap((l) => l.match(/CNI-[0-9a-f]{24}/g) ?? []));
    const rules = all.filter((l) => l.includes(prefix) || [...chains].some((c) => l.includes(c))).map((l) => l.replace(/\[\d+:\d+\]/g, '')).sort();
    const leases = readdirSafe(path.join(root(), 'cni', 'ipam', net)).filter((f) => /^\d/.test(f));
    const netns = readdirSafe(path.join(state(), 'netns'));
    const resolvers = processesNaming(path.join(state(), 'aardvark'));
    const resolverDirs = readdirSafe(path.join(state(), 'aardvark')).filter((f) => !f.endsWith('.lock'));
    return { links, rules, leases, netns, resolvers, resolverDirs };
  };

  const createNetwork = async (name: string, subnet: string): Promise<string> => {
    const c = await b(['network', 'create', '--subnet', subnet, name]);
    expect(c.code, c.stderr).toBe(0);
    return (JSON.parse((await b(['network', 'inspect', name])).stdout)[0] as { bridge: string }).bridge;
  };

  beforeAll(async () => {
    box = await mirrorSandbox({ images: images as string, names: ['alpine', 'busybox'] });
    n = Number.parseInt((env()['BERTH_DEFAULT_SUBNET'] as string).split('.')[2] as string, 10);
    await b(['pull', '-q', 'busybox']);
    await b(['pull', '-q', 'alpine']);
  }, 120_000);

  afterAll(async () => {
    if (!box) return;
    const ids = (await b(['ps', '-aq'])).stdout.split('\n').filter(Boolean);
    if (ids.length > 0) await b(['rm', '-f', ...ids]);
    for (const net of (await b(['network', 'ls', '-q'])).stdout.split('\n').filter((x) => x !== '' && x !== 'bridge')) await b(['network', 'rm', net]);
    await box.cleanup();
  });

  it('containers on a user network find each other by --name, --network-alias and connect --alias through the resolver on the gateway, and rm leaves nothing (no resolver either)', async () => {
    const net = `dn${process.pid.toString(36)}${Math.floor(Math.random() * 1e4)}`;
    const prefix = `10.238.${n}.`;
    const before = footprint(prefix, 'none-yet', net);
    const bridge = await createNetwork(net, `${prefix}0/24`);
    try {
      const d = await b(['run', '-d', '--name', 'server', '--network', net, '--network-alias', 'srv', 'busybox', 'sh', '-c', 'mkdir -p /www && echo by-name > /www/index.html && exec httpd -f -p 80 -h /www']);
      expect(d.code, d.stderr).toBe(0);
      expect(footprint(prefix, bridge, net).resolvers).toHaveLength(1);
      // alpine's busybox: resolv.conf names the gateway, /etc/hosts does not name the server (the answer is the resolver's).
      const r = await b(['run', '--rm', '--name', 'client', '--network', net, 'alpine', 'sh', '-c', 'cat /etc/resolv.conf; grep -c server /etc/hosts; for i in 1 2 3 4 5 6 7 8 9 10; do wget -qO- http://server/ && break; sleep 0.3; done; wget -qO- http://srv/; ping -c1 -W2 srv >/dev/null && echo ping-ok']);
      expect(r.code, r.stderr).toBe(0);
      const lines = r.stdout.split('\n');
      expect(lines).toContain(`nameserver ${prefix}1`);
      expect(lines).toContain('0');
      expect(r.stdout).toContain('by-name\nby-name\nping-ok\n');
      // The resolver answers with the server's address on this network.
      const serverIp = (await inspect('server')).NetworkSettings.Networks[net]?.IPAddress as string;
      const look = await b(['run', '--rm', '--network', net, 'busybox', 'nslookup', 'srv']);
      expect(look.code, look.stderr).toBe(0);
      expect(look.stdout).toContain(`Address: ${serverIp}`);
      // A container on the default bridge joins with an alias: the others find it by it; gone after disconnect.
      const j = await b(['run', '-d', '--name', 'joiner', 'busybox', 'sleep', '120']);
      expect(j.code, j.stderr).toBe(0);
      const con = await b(['network', 'connect', '--alias', 'jj', net, 'joiner']);
      expect(con.code, con.stderr).toBe(0);
      const joinerIp = (await inspect('joiner')).NetworkSettings.Networks[net]?.IPAddress as string;
      expect(joinerIp.startsWith(prefix)).toBe(true);
      const byAlias = await b(['run', '--rm', '--network', net, 'busybox', 'sh', '-c', 'nslookup jj && ping -c1 -W2 joiner']);
      expect(byAlias.code, byAlias.stderr).toBe(0);
      expect(byAlias.stdout).toContain(`Address: ${joinerIp}`);
      const dis = await b(['network', 'disconnect', net, 'joiner']);
      expect(dis.code, dis.stderr).toBe(0);
      const gone = await b(['run', '--rm', '--network', net, 'busybox', 'nslookup', 'jj']);
      expect(gone.code).not.toBe(0);
      await b(['rm', '-f', 'server', 'joiner']);
      const after = footprint(prefix, bridge, net);
      expect(after.resolvers).toEqual([]);
      expect(after.resolverDirs).toEqual([]);
      expect(after.leases).toEqual([]);
      expect(after.netns).toEqual(before.netns);
      expect(after.rules).toEqual(before.rules);
      // Only the bridge itself is left on the network (no veth).
      expect(after.links).toEqual([bridge]);
    } finally {
      await b(['rm', '-f', 'server', 'joiner', 'client']);
      const rm = await b(['network', 'rm', net]);
      expect(rm.code, rm.stderr).toBe(0);
    }
    expect(footprint(prefix, bridge, net)).toEqual({ ...before, links: [] });
  }, 180_000);

  it('--ip is honoured, a taken address or one outside the subnet is refused with 125 before the container starts, --mac-address sets eth0, and the lease goes exactly at rm and after a SIGKILL of berth', async () => {
    const net = `dp${process.pid.toString(36)}${Math.floor(Math.random() * 1e4)}`;
    const prefix = `10.239.${n}.`;
    const bridge = await createNetwork(net, `${prefix}0/24`);
    const leases = () => readdirSafe(path.join(root(), 'cni', 'ipam', net)).filter((f) => /^\d/.test(f)).sort();
    try {
      const d = await b(['run', '-d', '--name', 'fixed', '--network', net, '--ip', `${prefix}50`, '--mac-address', '02:42:0A:EE:00:32', 'busybox', 'sleep', '120']);
      expect(d.code, d.stderr).toBe(0);
      const s = (await inspect('fixed')).NetworkSettings.Networks[net];
      expect([s?.IPAddress, s?.MacAddress]).toEqual([`${prefix}50`, '02:42:0a:ee:00:32']);
      expect(leases()).toEqual([`${prefix}50`]);
      for (const [ip, why] of [
        [`${prefix}50`, 'already in use'],
        [`${prefix}1`, 'is the gateway'],
        [`10.240.${n}.7`, 'not a host address'],
      ] as const) {
        const r = await b(['run', '--rm', '--network', net, '--ip', ip, 'busybox', 'echo', 'should-not-run']);
        expect(r.code, r.stderr).toBe(125);
        expect(r.stdout).toBe('');
        expect(r.stderr.trim().split('\n')).toHaveLength(1);
        expect(r.stderr).toContain(why);
      }
      // connect --ip: the same checks, then the address.
      const j = await b(['run', '-d', '--name', 'joiner2', 'busybox', 'sleep', '120']);
      expect(j.code, j.stderr).toBe(0);
      const taken = await b(['network', 'connect', '--ip', `${prefix}50`, net, 'joiner2']);
      expect(taken.code).not.toBe(0);
      expect(taken.stderr).toContain('already in use');
      const con = await b(['network', 'connect', '--ip', `${prefix}51`, net, 'joiner2']);
      expect(con.code, con.stderr).toBe(0);
      expect((await inspect('joiner2')).NetworkSettings.Networks[net]?.IPAddress).toBe(`${prefix}51`);
      expect(leases()).toEqual([`${prefix}50`, `${prefix}51`]);
      await b(['rm', '-f', 'fixed', 'joiner2']);
      expect(leases()).toEqual([]);
      // A berth SIGKILLed while its container runs: the next command's sweep frees the lease.
      const child = spawn(process.execPath, [berthBin, 'run', '--rm', '--network', net, '--ip', `${prefix}50`, 'busybox', 'sleep', '60'], { env: { ...process.env, ...env() }, stdio: 'ignore' });
      for (let i = 0; i < 300 && !leases().includes(`${prefix}50`); i++) await new Promise((r) => setTimeout(r, 100));
      expect(leases()).toEqual([`${prefix}50`]);
      child.kill('SIGKILL');
      await new Promise((r) => child.once('exit', r));
      await b(['ps', '-a']);
      expect(leases()).toEqual([]);
      expect(processesNaming(path.join(state(), 'aardvark'))).toEqual([]);
      // Freed: the same address is given again.
      const again = await b(['run', '--rm', '--network', net, '--ip', `${prefix}50`, 'busybox', 'sh', '-c', 'ip -o -4 addr show eth0']);
      expect(again.code, again.stderr).toBe(0);
      expect(again.stdout).toContain(`inet ${prefix}50/24`);
    } finally {
      await b(['rm', '-f', 'fixed', 'joiner2']);
      await b(['network', 'rm', net]);
    }
    expect(sh('ip', ['-o', 'link', 'show']).includes(`master ${bridge} `)).toBe(false);
  }, 180_000);

  it('a container cannot reach the host 127.0.0.1 through the bridge portmap opened with route_localnet (CVE-2020-8558): the raw-table rule drops it', async () => {
    const bridge = env()['BERTH_DEFAULT_BRIDGE'] as string;
    const gateway = `10.236.${n}.1`;
    const server = createServer((_q, res) => res.end('host-secret\n'));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as { port: number }).port;
    const d = await b(['run', '-d', '--name', 'prober', '-p', '127.0.0.1::80', 'busybox', 'sleep', '120']);
    try {
      expect(d.code, d.stderr).toBe(0);
      const id = d.stdout.trim();
      expect(readFileSync(`/proc/sys/net/ipv4/conf/${bridge}/route_localnet`, 'utf8').trim()).toBe('1');
      const rule = sh('iptables', ['-w', '-t', 'raw', '-S', 'PREROUTING']).split('\n').filter((l) => l.includes(`-i ${bridge} `));
      expect(rule).toEqual([`-A PREROUTING -d 127.0.0.0/8 -i ${bridge} -m comment --comment "berth: CVE-2020-8558 guard" -j DROP`]);
      // Inside the container's namespace, as an attacker with CAP_NET_ADMIN would: 127.0.0.1 routed to the gateway.
      const ns = path.join(state(), 'netns', id);
      execFileSync('nsenter', [`--net=${ns}`, 'sh', '-c', `sysctl -qw net.ipv4.conf.all.route_localnet=1 net.ipv4.conf.eth0.route_localnet=1 && ip addr flush dev lo && ip route add 127.0.0.1/32 via ${gateway} dev eth0`]);
      // Asynchronous: the server answering is in this process.
      const probe = () =>
        new Promise<string>((resolve) => execFile('nsenter', [`--net=${ns}`, 'curl', '-sS', '--max-time', '3', `http://127.0.0.1:${port}/`], { encoding: 'utf8' }, (err, out) => resolve(err ? 'blocked' : out)));
      expect(await probe()).toBe('blocked');
      // The same probe without the rule reaches the host's loopback server: the rule is what stops it.
      execFileSync('iptables', ['-w', '-t', 'raw', '-D', ...(rule[0] as string).replace(/^-A /, '').replace('"berth: CVE-2020-8558 guard"', 'COMMENT').split(' ').map((x) => (x === 'COMMENT' ? 'berth: CVE-2020-8558 guard' : x))]);
      expect(await probe()).toBe('host-secret\n');
    } finally {
      server.close();
      await b(['rm', '-f', 'prober']);
    }
  }, 120_000);
});
