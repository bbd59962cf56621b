/**
 * The real thing, as root: Debian's CNI plugins from /usr/lib/cni, namespaces bound on files,
 * iptables. Everything is test-only: a bridge named bt<unique>, a subnet of 10.234.0.0/16 that
 * no host route overlaps, state under a temporary directory; traffic goes only to the
 * namespaces and the bridge made here and to 127.0.0.1.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, mkdir, readdir, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isBerthError } from '@berth/oci';
import { toolsMissing } from '@berth/testing';
import { setupContainerNetwork, sweepContainerNetworks, teardownContainerNetwork } from './attach.js';
import { addNetwork, checkNetwork, delNetwork, listCachedAttachments, pluginVersions, type NetworkConfList } from './cni.js';
import { createNetns, isNetnsMounted, netnsPath, removeNetns, sweepNetns } from './netns.js';
import { parsePublishSpec } from './ports.js';
import { NetworkStore, cniCacheDir, deleteLink, ipamDataDir, type NetworkDef } from './store.js';
import { hostRoutes, type Subnet } from './subnet.js';

const isRoot = process.getuid?.() === 0;
const missing = isRoot
  ? toolsMissing(['/usr/lib/cni/bridge', '/usr/lib/cni/host-local', '/usr/lib/cni/portmap', '/usr/lib/cni/firewall', '/usr/lib/cni/loopback', '/usr/lib/cni/tuning', 'iptables-save', 'unshare', 'nsenter', 'busybox', 'ip'])
  : 'not root';

const unique = `${process.pid.toString(36)}${randomBytes(2).toString('hex')}`.slice(0, 10);
const BRIDGE = `bt${unique}`;
let root: string;
let state: string;
let store: NetworkStore;
let net: NetworkDef;
let www: string;

/** 10.234.N.0/24 for the test's networks (never 10.88/16 of a real berth0), from a random N so two runs at once rarely pick the same. */
const poolStart = randomBytes(1)[0] ?? 0;
function* testPool(): Generator<Subnet> {
  for (let i = 0; i < 256; i++) yield { base: ((10 << 24) | (234 << 16) | (((poolStart + i) & 255) << 8)) >>> 0, prefix: 24 };
}

/** iptables-save without comments and counters. */
function iptablesRules(): string[] {
  const out = execFileSync('iptables-save', { encoding: 'utf8' });
  return out
    .split('\n')
    .filter((l) => l && !l.startsWith('#'))
    .map((l) => l.replace(/\s*\[\d+:\d+\]\s*$/, '').replace(/^(:\S+ \S+).*$/, '$1'));
}

/** Per-container chains (bridge's CNI-<hash>, portmap's CNI-DN-<hash>) ever seen in a rule of this test. */
const testChains = new Set<string>();

/**
 * The rules that are this test's: naming its subnet or its unique container IDs, or in (or
 * jumping to, or declaring) a per-container chain once seen so. Rules other programs add
 * meanwhile (podman, another test) are not looked at, so they cannot fail the test.
 */
function testRules(): string[] {
  const lines = iptablesRules();
  const prefix = net.subnet.replace(/\.0\/24$/, '.');
  const mine = (l: string): boolean => l.includes(unique) || l.includes(prefix);
  for (const l of lines.filter(mine)) for (const m of l.matchAll(/(?:-A|-j) (CNI-[0-9a-f]{24}|CNI-DN-[0-9a-f]+)\b/g)) if (m[1]) testChains.add(m[1]);
  return lines.filter((l) => (mine(l) || [...testChains].some((c) => l.includes(c))) && !sharedInfrastructure(l));
}

/**
 * Chains and jumps the plugins set up once for all containers (as docker's DOCKER chain), not per
 * container; and the bridge's CVE-2020-8558 rule (guard.ts), which lives as long as the bridge.
 */
function sharedInfrastructure(line: string): boolean {
  return line.includes('"berth: CVE-2020-8558 guard"') || /^:CNI-(FORWARD|ADMIN|HOSTPORT-(DNAT|SNAT|MASQ|SETMARK))\b/.test(line) || /-j CNI-(FORWARD|ADMIN|HOSTPORT-(DNAT|SNAT|MASQ|SETMARK))$/.test(line) || /^-A CNI-HOSTPORT-(MASQ|SETMARK) /.test(line) || /^-A CNI-FORWARD -m comment --comment "CNI firewall plugin admin overrides" -j CNI-ADMIN$/.test(line);
}

function links(): string[] {
  return (JSON.parse(execFileSync('ip', ['-j', 'link', 'show'], { encoding: 'utf8' })) as Array<{ ifname: string }>).map((l) => l.ifname);
}

function nsAddrs(netns: string): Array<{ ifname: string; operstate: string; flags: string[]; addr_info: Array<{ local: string; prefixlen: number; family: string }> }> {
  return JSON.parse(execFileSync('nsenter', [`--net=${netns}`, 'ip', '-j', 'addr'], { encoding: 'utf8' }));
}

async function leases(network: string): Promise<string[]> {
  const dir = path.join(ipamDataDir(root), network);
  return existsSync(dir) ? (await readdir(dir)).filter((n) => /^\d+\.\d+\.\d+\.\d+$/.test(n)) : [];
}

function startHttpd(netns: string, port: number): ChildProcess {
  return spawn('nsenter', [`--net=${netns}`, 'busybox', 'httpd', '-f', '-p', `0.0.0.0:${port}`, '-h', www], { stdio: 'ignore' });
}

/** GET url, retried while the server in the namespace starts (bounded; no timing assertion). */
async function get(url: string): Promise<string> {
  let last: unknown;
  for (let i = 0; i < 50; i++) {
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(2000) });
      return await res.text();
    } catch (err) {
      last = err;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  throw last;
}

async function freeLoopbackPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen({ host: '127.0.0.1', port: 0 }, r));
  const addr = server.address();
  await new Promise((r) => server.close(r));
  return typeof addr === 'object' && addr ? addr.port : 0;
}

describe.skipIf(missing !== undefined)(`@berth/network with the real CNI plugins${missing ? ` (skipped: ${missing})` : ''}`, () => {

  beforeAll(async () => {
    root = await mkdtemp(path.join(tmpdir(), 'berth-net-root-'));
    state = await mkdtemp(path.join(tmpdir(), 'berth-net-state-'));
    www = path.join(root, 'www');
    await mkdir(www);
    await writeFile(path.join(www, 'index.html'), `hello from ${unique}\n`);
    store = new NetworkStore({ root, pool: testPool });
    net = await store.create({ name: `t${unique}`, bridge: BRIDGE });
  });

  afterAll(async () => {
    if (!root) return;
    await sweepContainerNetworks({ root, state, alive: () => false }).catch(() => undefined);
    await deleteLink(BRIDGE).catch(() => undefined);
    await rm(root, { recursive: true, force: true });
    await rm(state, { recursive: true, force: true });
  });

  it('speaks CNI 1.0.0 with the installed plugins', async () => {
    for (const type of ['bridge', 'host-local', 'portmap', 'firewall', 'loopback']) {
      expect(await pluginVersions(type)).toContain('1.0.0');
    }
  });

  it('a namespace file is made by a child, bind-mounted, and removed idempotently; a leftover is swept', async () => {
    const file = await createNetns({ stateDir: state, id: `ns${unique}` });
    expect(file).toBe(netnsPath(state, `ns${unique}`));
    expect(await isNetnsMounted(file)).toBe(true);
    // A new namespace: only lo, down.
    expect(nsAddrs(file).map((i) => i.ifname)).toEqual(['lo']);
    await expect(createNetns({ stateDir: state, id: `ns${unique}` })).rejects.toMatchObject({ code: 'EIN_USE' });
    await removeNetns(file);
    expect(existsSync(file)).toBe(false);
    expect(await isNetnsMounted(file)).toBe(false);
    await removeNetns(file);
    // A crash between creating the file and mounting on it, and one after: both swept for dead IDs only.
    await writeFile(netnsPath(state, `dead1${unique}`), '');
    await createNetns({ stateDir: state, id: `dead2${unique}` });
    const alive = await createNetns({ stateDir: state, id: `alive${unique}` });
    const swept = await sweepNetns({ stateDir: state, alive: (id) => id === `alive${unique}` });
    expect(swept.sort()).toEqual([`dead1${unique}`, `dead2${unique}`]);
    expect(await isNetnsMounted(netnsPath(state, `dead2${unique}`))).toBe(false);
    expect(existsSync(alive)).toBe(true);
    await removeNetns(alive);
  });

  it('ADD gives the container an address, a default route and loopback; the host and a published port on 127.0.0.1 reach it; DEL removes the veth, rules and lease', async () => {
    const id = `c1${unique}`;
    const hostPort = await freeLoopbackPort();
    const cn = await setupContainerNetwork({ root, state, store, containerId: id, networks: [{ network: net.name, aliases: ['web'] }], ports: [parsePublishSpec(`127.0.0.1:${hostPort}:8080`)], hostname: 'c1host', name: 'c1' });
    const server = startHttpd(cn.netns, 8080);
    try {
      const [att] = cn.attachments;
      expect(att?.ifName).toBe('eth0');
      const ip = att?.addresses[0]?.split('/')[0] ?? '';
      expect(ip).toMatch(/^10\.234\.\d+\.\d+$/);
      expect(cn.ports).toEqual([{ hostIP: '127.0.0.1', hostPort, containerPort: 8080, protocol: 'tcp' }]);

      const inside = nsAddrs(cn.netns);
      const eth0 = inside.find((i) => i.ifname === 'eth0');
      expect(eth0?.addr_info.find((a) => a.family === 'inet')?.local).toBe(ip);
      expect(inside.find((i) => i.ifname === 'lo')?.flags).toContain('UP');
      const routes = execFileSync('nsenter', [`--net=${cn.netns}`, 'ip', '-j', 'route'], { encoding: 'utf8' });
      expect(JSON.parse(routes)).toContainEqual(expect.objectContaining({ dst: 'default', gateway: net.gateway }));
      expect(cn.hosts).toContain(`${ip}\tc1host c1 web`);
      expect(cn.resolvConf).toMatch(/^nameserver /m);
      expect(cn.resolvConf).not.toMatch(/nameserver 127\./);

      // The host reaches the container's address over the bridge, and 127.0.0.1:hostPort through portmap.
      expect(await get(`http://${ip}:8080/index.html`)).toBe(`hello from ${unique}\n`);
      expect(await get(`http://127.0.0.1:${hostPort}/index.html`)).toBe(`hello from ${unique}\n`);
      // What makes 127.0.0.1 work: portmap (snat) lets the bridge route loopback-sourced packets.
      expect(readFileSync(`/proc/sys/net/ipv4/conf/${BRIDGE}/route_localnet`, 'utf8').trim()).toBe('1');
      // route_localnet is on: so is the guard that drops 127.0.0.0/8 arriving on the bridge (CVE-2020-8558).
      expect(iptablesRules()).toContain(`-A PREROUTING -d 127.0.0.0/8 -i ${BRIDGE} -m comment --comment "berth: CVE-2020-8558 guard" -j DROP`);
      // (No CHECK here: Debian's portmap 1.1.1 fails CHECK of IPv4-only mappings, containernetworking/plugins#819.)

      const hostVeth = att?.result.interfaces?.find((i) => !i.sandbox && i.name !== BRIDGE)?.name ?? '';
      expect(links()).toContain(hostVeth);
      expect(await leases(net.name)).toEqual([ip]);
      const added = testRules();
      expect(added.some((l) => l.includes(`${ip}/32`))).toBe(true);
      expect(added.some((l) => l.includes(`id: \\"${id}\\"`))).toBe(true);

      await teardownContainerNetwork({ root, state, containerId: id });
      expect(links()).not.toContain(hostVeth);
      expect(await leases(net.name)).toEqual([]);
      expect(testRules()).toEqual([]);
      expect(await listCachedAttachments(cniCacheDir(root), id)).toEqual([]);
      expect(existsSync(cn.netns)).toBe(false);
      // Idempotent.
      await teardownContainerNetwork({ root, state, containerId: id });
    } finally {
      server.kill('SIGKILL');
    }
  });

  it('CHECK passes on a healthy attachment and fails with the plugin message once its interface is changed', async () => {
    const id = `c6${unique}`;
    const netns = await createNetns({ stateDir: state, id });
    const cache = { cacheDir: cniCacheDir(root) };
    try {
      const result = await addNetwork(store.confList(net), { containerId: id, netns, ifName: 'eth0' }, cache);
      await checkNetwork({ networkName: net.name, containerId: id, ifName: 'eth0' }, cache);
      // Not by deleting eth0: the bridge plugin's DEL finds the addresses whose NAT rules it removes on that interface.
      execFileSync('nsenter', [`--net=${netns}`, 'ip', 'link', 'set', 'eth0', 'address', '02:42:00:00:be:ef']);
      await expect(checkNetwork({ networkName: net.name, containerId: id, ifName: 'eth0' }, cache)).rejects.toThrow(/^CNI CHECK bridge for c6\S+: .*02:42:00:00:be:ef/);
      expect(result.interfaces?.some((i) => i.sandbox === netns)).toBe(true);
    } finally {
      await delNetwork({ networkName: net.name, containerId: id, ifName: 'eth0' }, cache);
      await removeNetns(netns);
    }
    expect(await leases(net.name)).toEqual([]);
    await expect(checkNetwork({ networkName: net.name, containerId: id, ifName: 'eth0' }, cache)).rejects.toThrow('no completed ADD is cached');
  });

  it('a failed ADD (a plugin refusing its config) reports the plugin message and leaves no veth, lease, rule or cache entry', async () => {
    const id = `c2${unique}`;
    const netns = await createNetns({ stateDir: state, id });
    const linksBefore = new Set(links());
    const good = store.confList(net);
    const list: NetworkConfList = { ...good, plugins: [...good.plugins, { type: 'tuning', sysctl: { 'net.ipv4.conf.eth0.berth_no_such_sysctl': '1' } }] };
    let err: unknown;
    try {
      await addNetwork(list, { containerId: id, netns, ifName: 'eth0' }, { cacheDir: cniCacheDir(root) });
    } catch (e) {
      err = e;
    }
    expect(isBerthError(err, 'ENETWORK_PLUGIN')).toBe(true);
    expect((err as Error).message).toMatch(/^CNI ADD tuning for c2\S+: .*berth_no_such_sysctl/);
    expect((err as Error).message).not.toContain('\n');
    // The bridge itself stays (it is the network's, made by the first ADD to it).
    expect([...links()].filter((l) => !linksBefore.has(l) && l !== BRIDGE)).toEqual([]);
    expect(await leases(net.name)).toEqual([]);
    expect(testRules()).toEqual([]);
    expect(await listCachedAttachments(cniCacheDir(root), id)).toEqual([]);

    // A plugin that is not installed: named, nothing run.
    await expect(addNetwork({ ...good, plugins: [{ type: 'berth-no-such-plugin' }] }, { containerId: id, netns, ifName: 'eth0' }, { cacheDir: cniCacheDir(root) })).rejects.toThrow(
      'find CNI plugin berth-no-such-plugin: not in /usr/lib/cni',
    );
    await removeNetns(netns);
    // DEL with nothing cached and no list is a no-op; with the list, plugins accept a DEL of nothing.
    await delNetwork({ networkName: net.name, containerId: id, ifName: 'eth0' }, { cacheDir: cniCacheDir(root) });
    await delNetwork({ networkName: net.name, containerId: id, ifName: 'eth0', netns }, { cacheDir: cniCacheDir(root) }, good);
  });

  it('a published port already bound on the host is refused before anything is set up', async () => {
    const id = `c3${unique}`;
    const blocker = createServer();
    await new Promise<void>((r) => blocker.listen({ host: '127.0.0.1', port: 0 }, r));
    const port = (blocker.address() as { port: number }).port;
    try {
      await expect(setupContainerNetwork({ root, state, store, containerId: id, networks: [{ network: net.name }], ports: [parsePublishSpec(`127.0.0.1:${port}:80`)], hostname: 'c3' })).rejects.toThrow(
        `publish port ${port}: 127.0.0.1:${port}/tcp is already in use on the host`,
      );
      expect(existsSync(netnsPath(state, id))).toBe(false);
      expect(await listCachedAttachments(cniCacheDir(root), id)).toEqual([]);
      expect(await leases(net.name)).toEqual([]);
    } finally {
      blocker.close();
    }
  });

  it('a port another container publishes is refused; the sweep cleans a container berth did not tear down (killed)', async () => {
    const a = `c4${unique}`;
    const b = `c5${unique}`;
    const hostPort = await freeLoopbackPort();
    const first = await setupContainerNetwork({ root, state, store, containerId: a, networks: [{ network: net.name }], ports: [parsePublishSpec(`127.0.0.1:${hostPort}:80`)], hostname: 'c4' });
    await expect(setupContainerNetwork({ root, state, store, containerId: b, networks: [{ network: net.name }], ports: [parsePublishSpec(`${hostPort}:81`)], hostname: 'c5' })).rejects.toMatchObject({
      code: 'ENETWORK_CONFLICT',
    });
    expect(existsSync(netnsPath(state, b))).toBe(false);
    // The network is in use while a container is attached.
    await expect(store.remove(net.name)).rejects.toMatchObject({ code: 'EIN_USE' });
    const hostVeth = first.attachments[0]?.result.interfaces?.find((i) => !i.sandbox && i.name !== BRIDGE)?.name ?? '';
    expect(links()).toContain(hostVeth);
    const swept = await sweepContainerNetworks({ root, state, alive: (id) => id !== a });
    expect(swept).toEqual([a]);
    expect(links()).not.toContain(hostVeth);
    expect(await leases(net.name)).toEqual([]);
    expect(existsSync(first.netns)).toBe(false);
    expect(testRules()).toEqual([]);
  });

  it('berth SIGKILLed in the middle of an ADD: the attachment, recorded before the first plugin ran and again after each, is DELeted by the sweep', async () => {
    // A plugin directory with one extra plugin after the real ones: on ADD it records its pid
    // and blocks, so berth can be killed at a known point (the bridge's ADD done); DEL succeeds.
    const pluginDir = path.join(root, 'plugins');
    await mkdir(pluginDir, { recursive: true });
    const marker = path.join(root, 'hang.pid');
    await writeFile(path.join(pluginDir, 'berth-test-hang'), `#!/bin/sh\nif [ "$CNI_COMMAND" = ADD ]; then echo $$ > ${marker}; exec sleep 600; fi\nexit 0\n`, { mode: 0o755 });
    const pluginDirs = [pluginDir, '/usr/lib/cni'];
    const id = `c9${unique}`;
    const netns = await createNetns({ stateDir: state, id });
    const good = store.confList(net);
    const list: NetworkConfList = { ...good, plugins: [good.plugins[0] as NetworkConfList['plugins'][number], { type: 'berth-test-hang' }] };
    const script = path.join(root, 'add.ts');
    await writeFile(
      script,
      `import { addNetwork } from '@berth/network';\nawait addNetwork(${JSON.stringify(list)}, ${JSON.stringify({ containerId: id, netns, ifName: 'eth0' })}, ${JSON.stringify({ cacheDir: cniCacheDir(root), pluginDirs })});\n`,
    );
    const repo = path.resolve(import.meta.dirname, '../../..');
    const child = spawn(path.join(repo, 'node_modules/.bin/vite-node'), ['--config', path.join(repo, 'vitest.config.ts'), script], { cwd: repo, stdio: 'ignore' });
    let hangPid = 0;
    try {
      for (let i = 0; i < 600 && !existsSync(marker); i++) await new Promise((r) => setTimeout(r, 100));
      hangPid = Number(readFileSync(marker, 'utf8').trim());
      child.kill('SIGKILL');
      await new Promise((r) => child.once('exit', r));
    } finally {
      child.kill('SIGKILL');
      if (hangPid) process.kill(hangPid, 'SIGKILL');
    }
    // What the killed berth left: the record with the bridge's result (kept after each plugin, so
    // the DEL has the addresses the firewall plugin finds its rules by), the veth and the lease.
    const [pending] = await listCachedAttachments(cniCacheDir(root), id);
    expect(pending?.result?.ips?.length).toBeGreaterThan(0);
    expect(await leases(net.name)).toHaveLength(1);
    const inside = nsAddrs(netns).map((i) => i.ifname);
    expect(inside).toContain('eth0');

    expect(await sweepContainerNetworks({ root, state, pluginDirs, alive: (x) => x !== id })).toEqual([id]);
    expect(await leases(net.name)).toEqual([]);
    expect(await listCachedAttachments(cniCacheDir(root), id)).toEqual([]);
    expect(existsSync(netns)).toBe(false);
    expect(testRules()).toEqual([]);
  });

  it('the sweep removes the temp file of a cache write whose writer died, and keeps a live writer\'s', async () => {
    const dir = cniCacheDir(root);
    await mkdir(dir, { recursive: true });
    const dead = spawn('true');
    await new Promise((r) => dead.once('exit', r));
    const orphan = path.join(dir, `bridge+${'d'.repeat(64)}+eth0.json-${dead.pid}-0123456789abcdef`);
    const live = path.join(dir, `bridge+${'e'.repeat(64)}+eth0.json-${process.pid}-0123456789abcdef`);
    await writeFile(orphan, '{');
    await writeFile(live, '{');
    await sweepContainerNetworks({ root, state, alive: () => true });
    expect(existsSync(orphan)).toBe(false);
    expect(existsSync(live)).toBe(true);
    await rm(live);
  });

  it('the default network adopts the subnet of a bridge that is already there (another berth root made it)', async () => {
    const bridge = `ba${unique}`.slice(0, 15);
    execFileSync('ip', ['link', 'add', bridge, 'type', 'bridge']);
    try {
      execFileSync('ip', ['addr', 'add', '10.235.7.1/24', 'dev', bridge]);
      const adopting = new NetworkStore({ root: path.join(root, 'adopting'), pool: testPool, defaultBridge: bridge });
      const def = await adopting.ensureDefault();
      expect([def.bridge, def.subnet, def.gateway]).toEqual([bridge, '10.235.7.0/24', '10.235.7.1']);
    } finally {
      execFileSync('ip', ['link', 'del', bridge]);
    }
  });

  it('--internal: an address on the bridge, but no default route and no NAT rule', async () => {
    const internal = await store.create({ name: `i${unique}`, bridge: `bi${unique}`, internal: true });
    const id = `c7${unique}`;
    try {
      const cn = await setupContainerNetwork({ root, state, store, containerId: id, networks: [{ network: internal.name }], hostname: 'c7' });
      const ip = cn.attachments[0]?.addresses[0]?.split('/')[0] ?? '';
      expect(ip.startsWith(internal.subnet.replace(/0\/24$/, ''))).toBe(true);
      const routes = JSON.parse(execFileSync('nsenter', [`--net=${cn.netns}`, 'ip', '-j', 'route'], { encoding: 'utf8' })) as Array<{ dst: string }>;
      expect(routes.map((r) => r.dst)).not.toContain('default');
      const rules = iptablesRules().filter((l) => l.includes(id));
      expect(rules.filter((l) => l.includes('MASQUERADE') || l.includes('-j CNI-'))).toEqual([]);
      await expect(setupContainerNetwork({ root, state, store, containerId: `c8${unique}`, networks: [{ network: internal.name }], ports: [parsePublishSpec('80')], hostname: 'c8' })).rejects.toThrow('is internal');
      await teardownContainerNetwork({ root, state, containerId: id });
    } finally {
      await sweepContainerNetworks({ root, state, alive: () => false });
      await store.remove(internal.name);
    }
    expect(links()).not.toContain(`bi${unique}`);
  });

  it('a subnet overlapping the test network (now a host route via its bridge) is refused', async () => {
    // The bridge exists after the ADDs above: its route is one of the host's.
    expect((await hostRoutes()).some((r) => r.prefix === 24 && `${r.base >>> 24}.${(r.base >>> 16) & 255}.${(r.base >>> 8) & 255}.0/24` === net.subnet)).toBe(true);
    const other = new NetworkStore({ root: path.join(root, 'other'), pool: testPool });
    await expect(other.create({ name: 'x', subnet: net.subnet })).rejects.toThrow(`overlaps the host route to ${net.subnet}`);
  });
});
