import { execFileSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { hostname } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sharedImagesDir, toolsMissing } from '@berth/testing';
import { berth, berthBin, mirrorSandbox, mirrorToolsSkip, type MirrorSandbox } from '../helpers/cli.js';

/**
 * berth's networking through the built CLI, as root with Debian's CNI plugins: every
 * sandbox has its own default bridge (bt…) and test subnet (10.236.N.0/24); traffic goes
 * only to loopback and to the containers' own addresses on that bridge.
 */
const images = sharedImagesDir();
const isRoot = process.getuid?.() === 0;
const toolsSkip = toolsMissing(['curl', 'ip', 'iptables-save']) ?? (readdirSafe('/usr/lib/cni').includes('bridge') ? undefined : 'no CNI plugins in /usr/lib/cni');

function readdirSafe(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}

function sh(cmd: string, args: string[]): string {
  return execFileSync(cmd, args, { encoding: 'utf8' });
}

/** A free TCP port on loopback (the kernel's pick). */
async function freePort(): Promise<number> {
  const net = await import('node:net');
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      s.close(() => (typeof a === 'object' && a !== null ? resolve(a.port) : reject(new Error('no port'))));
    });
  });
}

async function curlUntil(url: string, tries = 50): Promise<string> {
  let last = '';
  for (let i = 0; i < tries; i++) {
    try {
      return sh('curl', ['-sS', '--max-time', '2', url]);
    } catch (err) {
      last = String(err);
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  throw new Error(`curl ${url}: ${last}`);
}

describe.skipIf(!!mirrorToolsSkip || !!toolsSkip || !images || !isRoot)('berth networking (as root, real CNI plugins)', () => {
  let box: MirrorSandbox;
  const env = () => box.env;
  const b = (args: string[]) => berth(args, { env: env() });
  /** Lines of this sandbox's footprint: its bridge's links, its subnet's rules, its leases. */
  const footprint = () => {
    const bridge = env()['BERTH_DEFAULT_BRIDGE'] as string;
    const prefix = (env()['BERTH_DEFAULT_SUBNET'] as string).replace(/0\/24$/, '');
    const links = sh('ip', ['-o', 'link', 'show']).split('\n').filter((l) => l.includes(bridge)).map((l) => l.replace(/^\d+: /, '').split(':')[0]);
    // Only this sandbox's rules: those naming its subnet, and the CNI chains those name (other
    // test files run containers on other bridges at the same time).
    const all = sh('iptables-save', [])
      .split('\n')
      .filter((l) => !l.startsWith('#') && !/^:/.test(l))
      .map((l) => l.replace(/\[\d+:\d+\]/g, ''));
    const chains = new Set(all.filter((l) => l.includes(prefix)).flatMap((l) => l.match(/CNI-[0-9a-f]{24}/g) ?? []));
    const rules = all.filter((l) => l.includes(prefix) || [...chains].some((c) => l.includes(c))).sort();
    const ipam = path.join(env()['BERTH_ROOT'] as string, 'cni', 'ipam');
    const leases = readdirSafe(ipam).flatMap((n) => readdirSafe(path.join(ipam, n)).filter((f) => /^\d/.test(f)));
    const netns = readdirSafe(path.join(env()['BERTH_STATE'] as string, 'netns'));
    return { links, rules, leases, netns };
  };

  beforeAll(async () => {
    box = await mirrorSandbox({ images: images as string, names: ['alpine', 'busybox'] });
    // Pull once, so later runs start at once.
    await b(['pull', '-q', 'busybox']);
    await b(['pull', '-q', 'alpine']);
  }, 120_000);

  afterAll(async () => {
    if (!box) return;
    const ids = (await b(['ps', '-aq'])).stdout.split('\n').filter(Boolean);
    if (ids.length > 0) await b(['rm', '-f', ...ids]);
    await box.cleanup();
  });

  it('publishes a busybox httpd port that curl on the host reaches on 127.0.0.1, and ps and port show it', async () => {
    const port = await freePort();
    const d = await b(['run', '-d', '--name', 'web', '-p', `127.0.0.1:${port}:80`, 'busybox', 'sh', '-c', 'mkdir -p /www && echo hello-from-web > /www/index.html && exec httpd -f -p 80 -h /www']);
    expect(d.stderr).toBe('');
    expect(d.code).toBe(0);
    try {
      expect(await curlUntil(`http://127.0.0.1:${port}/`)).toBe('hello-from-web\n');
      // One attachment, eth0 on bridge: lo is the init's doing, not a CNI loopback run.
      const cache = readdirSafe(path.join(env()['BERTH_ROOT'] as string, 'cni', 'results'));
      expect(cache.filter((f) => f.endsWith('.json')).map((f) => f.replace(/\+[0-9a-f]{64}\+/, '+ID+'))).toEqual(['bridge+ID+eth0.json']);
      const ps = await b(['ps']);
      expect(ps.stdout).toContain(`127.0.0.1:${port}->80/tcp`);
      const p = await b(['port', 'web']);
      expect(p.stdout).toBe(`80/tcp -> 127.0.0.1:${port}\n`);
      const insp = JSON.parse((await b(['container', 'inspect', 'web'])).stdout) as Array<{ NetworkSettings: { Networks: Record<string, { IPAddress: string }>; Ports: Record<string, unknown> } }>;
      const settings = insp[0]?.NetworkSettings;
      expect(settings?.Networks['bridge']?.IPAddress).toMatch(new RegExp(`^${(env()['BERTH_DEFAULT_SUBNET'] as string).replace(/0\/24$/, '').replace(/\./g, '\\.')}\\d+$`));
      expect(settings?.Ports['80/tcp']).toEqual([{ HostIp: '127.0.0.1', HostPort: String(port) }]);
    } finally {
      await b(['rm', '-f', 'web']);
    }
  }, 60_000);

  it('refuses a port another container publishes: 125 and one line, before the container starts', async () => {
    const port = await freePort();
    const d = await b(['run', '-d', '--name', 'holder', '-p', `127.0.0.1:${port}:80`, 'busybox', 'sleep', '60']);
    expect(d.code, d.stderr).toBe(0);
    try {
      const r = await b(['run', '--rm', '-p', `127.0.0.1:${port}:80`, 'busybox', 'echo', 'should-not-run']);
      expect(r.code).toBe(125);
      expect(r.stdout).toBe('');
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stderr).toMatch(new RegExp(`^berth: .*${port}.*`));
    } finally {
      await b(['rm', '-f', 'holder']);
    }
  }, 60_000);

  it('--network none has only lo', async () => {
    const r = await b(['run', '--rm', '--network', 'none', 'busybox', 'sh', '-c', 'ls /sys/class/net']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.trim().split(/\s+/)).toEqual(['lo']);
  });

  it('--network host sees the host interfaces and hostname', async () => {
    // Other test files add and remove links meanwhile: every link the host had before and after.
    const before = readdirSync('/sys/class/net');
    const r = await b(['run', '--rm', '--network', 'host', 'busybox', 'sh', '-c', 'hostname; ls /sys/class/net']);
    const after = new Set(readdirSync('/sys/class/net'));
    expect(r.code, r.stderr).toBe(0);
    const [name, ...ifs] = r.stdout.trim().split(/\s+/);
    expect(name).toBe(hostname());
    const stable = before.filter((n) => after.has(n)).sort();
    expect(stable.length).toBeGreaterThan(1);
    expect(ifs.filter((n) => stable.includes(n)).sort()).toEqual(stable);
  });

  it('the default network gives eth0 an address on the bridge, a default route and the hostname in /etc/hosts', async () => {
    const r = await b(['run', '--rm', '--hostname', 'boxy', '--add-host', 'db.example:10.1.2.3', 'busybox', 'sh', '-c', 'ip -o -4 addr show eth0; ip route; cat /etc/hosts; ip -o link show lo; ping -c 1 -W 2 127.0.0.1 >/dev/null && echo lo-works']);
    expect(r.code, r.stderr).toBe(0);
    const prefix = (env()['BERTH_DEFAULT_SUBNET'] as string).replace(/0\/24$/, '');
    expect(r.stdout).toContain(`inet ${prefix}`);
    expect(r.stdout).toContain(`default via ${prefix}1`);
    expect(r.stdout).toMatch(new RegExp(`${prefix.replace(/\./g, '\\.')}\\d+\\tboxy`));
    expect(r.stdout).toContain('10.1.2.3\tdb.example');
    expect(r.stdout).toMatch(/^\d+: lo: <LOOPBACK,UP,LOWER_UP>/m);
    expect(r.stdout).toContain('lo-works\n');
  });

  it('--network container:NAME shares the other container namespace and its /etc/hosts', async () => {
    const d = await b(['run', '-d', '--name', 'owner', 'busybox', 'sleep', '60']);
    expect(d.code, d.stderr).toBe(0);
    try {
      const addr = JSON.parse((await b(['container', 'inspect', 'owner'])).stdout)[0].NetworkSettings.Networks.bridge.IPAddress as string;
      const r = await b(['run', '--rm', '--network', 'container:owner', 'busybox', 'sh', '-c', 'ip -o -4 addr show eth0; cat /etc/hosts']);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toContain(`inet ${addr}/`);
      // Its /etc/hosts is the owner's (docker shares it with the namespace).
      expect(r.stdout).toMatch(new RegExp(`^${addr.replace(/\./g, '[.]')}\\s+[0-9a-f]{12} owner$`, 'm'));
    } finally {
      await b(['rm', '-f', 'owner']);
    }
  }, 60_000);

  it('two containers on a user network reach each other by address, by --name and --network-alias; connect adds eth1 on it, disconnect takes it away, rm refuses it while in use', async () => {
    const net = `tn${process.pid.toString(36)}`;
    const n = (Number.parseInt((env()['BERTH_DEFAULT_SUBNET'] as string).split('.')[2] as string, 10) + 1) % 256;
    const c = await b(['network', 'create', '--subnet', `10.237.${n}.0/24`, net]);
    expect(c.code, c.stderr).toBe(0);
    try {
      const d = await b(['run', '-d', '--name', 'server', '--network', net, '--network-alias', 'srv', 'busybox', 'sh', '-c', 'mkdir -p /www && echo on-user-net > /www/index.html && exec httpd -f -p 80 -h /www']);
      expect(d.code, d.stderr).toBe(0);
      const insp = JSON.parse((await b(['container', 'inspect', 'server'])).stdout);
      const ip = insp[0].NetworkSettings.Networks[net].IPAddress as string;
      expect(ip.startsWith(`10.237.${n}.`)).toBe(true);
      const r = await b(['run', '--rm', '--network', net, 'busybox', 'sh', '-c', `for i in 1 2 3 4 5 6 7 8 9 10; do wget -qO- http://${ip}/ && exit 0; sleep 0.2; done; exit 1`]);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toBe('on-user-net\n');
      // By name and by alias (the network's resolver, network-names.test.ts; /etc/hosts without aardvark-dns).
      const named = await b(['run', '--rm', '--name', 'client', '--network', net, 'busybox', 'sh', '-c', 'wget -qO- http://server/ && wget -qO- http://srv/ && sleep 1']);
      expect(named.code, named.stderr).toBe(0);
      expect(named.stdout).toBe('on-user-net\non-user-net\n');
      const ls = await b(['network', 'ls']);
      expect(ls.stdout).toContain(net);
      // connect/disconnect: a container on the default bridge gets eth1 on the user network, then loses it.
      const d2 = await b(['run', '-d', '--name', 'joiner', 'busybox', 'sleep', '60']);
      expect(d2.code, d2.stderr).toBe(0);
      const con = await b(['network', 'connect', net, 'joiner']);
      expect(con.code, con.stderr).toBe(0);
      const eth1 = JSON.parse((await b(['container', 'inspect', 'joiner'])).stdout)[0].NetworkSettings.Networks[net];
      expect(eth1.InterfaceName).toBe('eth1');
      expect((eth1.IPAddress as string).startsWith(`10.237.${n}.`)).toBe(true);
      const inUse = await b(['network', 'rm', net]);
      expect(inUse.code).toBe(1);
      const dis = await b(['network', 'disconnect', net, 'joiner']);
      expect(dis.code, dis.stderr).toBe(0);
      expect(JSON.parse((await b(['container', 'inspect', 'joiner'])).stdout)[0].NetworkSettings.Networks[net]).toBeUndefined();
      await b(['rm', '-f', 'joiner']);
      await b(['rm', '-f', 'server']);
    } finally {
      await b(['rm', '-f', 'server', 'joiner', 'late']);
      const rm = await b(['network', 'rm', net]);
      expect(rm.code, rm.stderr).toBe(0);
    }
  }, 180_000);

  it('after several run --rm -p and a SIGKILL of berth in the middle, links, rules, leases and namespaces are back as before', async () => {
    const before = footprint();
    for (let i = 0; i < 4; i++) {
      const port = await freePort();
      const r = await b(['run', '--rm', '-p', `127.0.0.1:${port}:80`, 'busybox', 'true']);
      expect(r.code, r.stderr).toBe(0);
    }
    // A foreground berth killed while its container runs: nothing cleans up but the next command.
    const { spawn } = await import('node:child_process');
    const port = await freePort();
    const child = spawn(process.execPath, [berthBin, 'run', '--rm', '-p', `127.0.0.1:${port}:80`, 'busybox', 'sleep', '30'], { env: { ...process.env, ...env() }, stdio: 'ignore' });
    // Wait until its attachment exists (a lease and a rule), then SIGKILL berth.
    for (let i = 0; i < 100 && footprint().leases.length === before.leases.length; i++) await new Promise((r) => setTimeout(r, 100));
    expect(footprint().leases.length).toBeGreaterThan(before.leases.length);
    child.kill('SIGKILL');
    await new Promise((r) => child.once('exit', r));
    for (let i = 0; i < 3; i++) {
      const p2 = await freePort();
      const r = await b(['run', '--rm', '-p', `127.0.0.1:${p2}:80`, 'busybox', 'true']);
      expect(r.code, r.stderr).toBe(0);
    }
    await b(['ps', '-a']);
    expect(footprint()).toEqual(before);
  }, 240_000);
});
