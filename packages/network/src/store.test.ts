import { mkdir, mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { checkMac } from './attach.js';
import { NetworkStore, cniCacheDir, ipamDataDir } from './store.js';
import { parseSubnet, type Subnet } from './subnet.js';

let root: string;
let routes: Subnet[];

beforeEach(async () => {
  root = await mkdtemp(path.join(tmpdir(), 'berth-netstore-'));
  routes = [parseSubnet('192.0.2.0/24'), parseSubnet('10.88.0.0/16')];
});
afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

function store(): NetworkStore {
  return new NetworkStore({ root, defaultBridge: 'bt-default', hostRoutes: async () => routes });
}

describe('NetworkStore', () => {
  it('creates the default network on a pool subnet that skips the host routes, bridge and NAT as configured', async () => {
    const def = await store().ensureDefault();
    expect(def).toMatchObject({ name: 'bridge', bridge: 'bt-default', subnet: '10.89.0.0/16', gateway: '10.89.0.1', internal: false });
    expect(await store().ensureDefault()).toEqual(def);
    const file = path.join(root, 'networks', 'bridge.json');
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    expect(JSON.parse(await readFile(file, 'utf8'))).toEqual(def);
    const list = store().confList(def);
    expect(list.cniVersion).toBe('1.0.0');
    expect(list.plugins.map((p) => p.type)).toEqual(['bridge', 'portmap', 'firewall']);
    expect(list.plugins[0]).toMatchObject({ bridge: 'bt-default', ipMasq: true, isGateway: true, ipam: { type: 'host-local', dataDir: ipamDataDir(root), routes: [{ dst: '0.0.0.0/0' }] } });
    // No temp files left beside the definition.
    expect((await readdir(path.join(root, 'networks'))).filter((n) => !n.startsWith('.'))).toEqual(['bridge.json']);
  });

  it('refuses a subnet overlapping another network or a host route, and a taken name', async () => {
    const s = store();
    await s.create({ name: 'one', subnet: '10.200.0.0/16' });
    await expect(s.create({ name: 'two', subnet: '10.200.5.0/24' })).rejects.toThrow('create network two: subnet 10.200.5.0/24 overlaps 10.200.0.0/16 of network one');
    await expect(s.create({ name: 'two', subnet: '10.0.0.0/8' })).rejects.toMatchObject({ code: 'ENETWORK_CONFLICT' });
    await expect(s.create({ name: 'two', subnet: '192.0.2.128/25' })).rejects.toThrow('overlaps the host route to 192.0.2.0/24');
    await expect(s.create({ name: 'one', subnet: '10.201.0.0/16' })).rejects.toThrow('a network with that name exists');
    await expect(s.create({ name: 'bridge' })).rejects.toThrow('the name is reserved');
    await expect(s.create({ name: 'x', subnet: '10.202.0.0/16', gateway: '10.203.0.1' })).rejects.toThrow('is not a host address of 10.202.0.0/16');
    await expect(s.create({ name: '../x' })).rejects.toMatchObject({ code: 'EINVAL_ARGUMENT' });
    expect((await s.list()).map((n) => n.name)).toEqual(['one']);
  });

  it('--internal: no NAT, no default route, no port publishing', async () => {
    const def = await store().create({ name: 'priv', internal: true, subnet: '10.210.0.0/24', gateway: '10.210.0.254' });
    expect(def.gateway).toBe('10.210.0.254');
    expect(def.bridge).toMatch(/^br-[0-9a-f]{12}$/);
    const list = store().confList(def);
    expect(list.plugins.map((p) => p.type)).toEqual(['bridge', 'firewall']);
    expect(list.plugins[0]).toMatchObject({ ipMasq: false, ipam: { routes: [] } });
  });

  it('inspect and remove name the network that is not there; remove drops the definition and its leases', async () => {
    const s = store();
    await expect(s.inspect('nope')).rejects.toMatchObject({ code: 'ENOT_FOUND' });
    await s.create({ name: 'gone', subnet: '10.211.0.0/24', bridge: 'bt-none-here' });
    await s.remove('gone');
    expect(await s.get('gone')).toBeUndefined();
    await expect(s.remove('gone')).rejects.toMatchObject({ code: 'ENOT_FOUND' });
    await expect(s.remove('bridge')).rejects.toThrow('the default network cannot be removed');
    expect(cniCacheDir(root)).toBe(path.join(root, 'cni', 'results'));
  });

  it('checkAddress: --ip must be a host address of the subnet, not the gateway, not leased by host-local', async () => {
    const def = await store().create({ name: 'fixed', subnet: '10.90.1.0/24' });
    await expect(store().checkAddress(def, '10.90.1.50', '--ip')).resolves.toBe('10.90.1.50/24');
    await expect(store().checkAddress(def, '10.90.2.5', '--ip')).rejects.toThrow('--ip: 10.90.2.5 is not a host address of network fixed (10.90.1.0/24)');
    await expect(store().checkAddress(def, '10.90.1.0', '--ip')).rejects.toThrow('not a host address');
    await expect(store().checkAddress(def, '10.90.1.255', '--ip')).rejects.toThrow('not a host address');
    await expect(store().checkAddress(def, '10.90.1.1', '--ip')).rejects.toThrow('--ip: 10.90.1.1 is the gateway of network fixed');
    await expect(store().checkAddress(def, 'nope', '--ip')).rejects.toThrow('is not an IPv4 address');
    await mkdir(path.join(ipamDataDir(root), 'fixed'), { recursive: true });
    await writeFile(path.join(ipamDataDir(root), 'fixed', '10.90.1.50'), 'c0ffee\neth0');
    await expect(store().checkAddress(def, '10.90.1.50', '--ip')).rejects.toMatchObject({ code: 'ENETWORK_CONFLICT', message: '--ip: 10.90.1.50 is already in use on network fixed' });
    // The bridge declares the capabilities the address and the MAC go through.
    expect(store().confList(def).plugins[0]?.capabilities).toEqual({ ips: true, mac: true });
  });

  it('checkMac: a unicast MAC address, lower-cased', () => {
    expect(checkMac('02:42:AC:11:00:02', '--mac-address')).toBe('02:42:ac:11:00:02');
    expect(() => checkMac('01:00:5e:00:00:01', '--mac-address')).toThrow('--mac-address: 01:00:5e:00:00:01 is a multicast MAC address');
    expect(() => checkMac('02:42:ac:11:00', '--mac-address')).toThrow('is not a MAC address');
  });
});
