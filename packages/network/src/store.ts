/**
 * Network definitions: one JSON file per network under `$BERTH_ROOT/networks/<name>.json`
 * (0600, replaced atomically), changed under one lock file so two `network create`s cannot
 * both take the same subnet. A definition becomes a CNI configuration list with `confList()`.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, readdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { BerthError } from '@berth/oci';
import { withFileLock, writeFileAtomic } from '@berth/store';
import { CNI_VERSION, listCachedAttachments, type NetworkConfList } from './cni.js';
import { removeLocalnetGuard } from './guard.js';
import type { PortMapping } from './ports.js';
import { firstHost, formatIPv4, formatSubnet, hostRoutes, parseIPv4, parseSubnet, pickSubnet, subnetContains, subnetPool, subnetsOverlap, type Subnet } from './subnet.js';

const execFileP = promisify(execFile);

/** The default network's name and Linux bridge, as docker's `bridge`/`docker0`. */
export const DEFAULT_NETWORK = 'bridge';
export const DEFAULT_BRIDGE = 'berth0';
/** Names a user network cannot take (docker's predefined networks). */
const RESERVED = new Set(['bridge', 'host', 'none', 'default', 'berth-loopback']);
const NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;

export interface NetworkDef {
  name: string;
  /** 64 hex digits, as docker's network IDs. */
  id: string;
  driver: 'bridge';
  /** The Linux bridge (≤ 15 characters): berth0 for the default network, br-<id:12> for others. */
  bridge: string;
  subnet: string;
  gateway: string;
  /** No NAT, no default route, no published ports: containers reach only each other. */
  internal: boolean;
  created: string;
}

export interface CreateNetworkOptions {
  name: string;
  /** CIDR; default: the first pool subnet overlapping no network and no host route. */
  subnet?: string;
  /** Default: the subnet's first address. */
  gateway?: string;
  internal?: boolean;
  /** Linux bridge name; default br-<first 12 hex digits of the ID>. */
  bridge?: string;
}

export interface NetworkStoreOptions {
  /** $BERTH_ROOT. */
  root: string;
  /** The default network's bridge (default berth0; tests give their own). */
  defaultBridge?: string;
  /** Subnets to pick from when none is given (default 10.88.0.0/16 … 10.127.0.0/16). */
  pool?: () => Iterable<Subnet>;
  /** The host's routes a subnet must not overlap (default: read from the kernel). */
  hostRoutes?: () => Promise<Subnet[]>;
}

/** `$BERTH_ROOT/cni/results`: the attachment cache (see cni.ts). */
export function cniCacheDir(root: string): string {
  return path.join(root, 'cni', 'results');
}

/** `$BERTH_ROOT/cni/ipam`: host-local's leases (one directory per network), not /var/lib/cni. */
export function ipamDataDir(root: string): string {
  return path.join(root, 'cni', 'ipam');
}

function parseDef(text: string, file: string): NetworkDef {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (err) {
    throw new BerthError('ESTORE', `read network ${file}: not JSON`, { cause: err });
  }
  const d = v as Partial<NetworkDef> | null;
  if (
    !d ||
    typeof d.name !== 'string' ||
    !NAME.test(d.name) ||
    typeof d.id !== 'string' ||
    d.driver !== 'bridge' ||
    typeof d.bridge !== 'string' ||
    !/^[A-Za-z0-9_.-]{1,15}$/.test(d.bridge) ||
    typeof d.subnet !== 'string' ||
    typeof d.gateway !== 'string' ||
    typeof d.internal !== 'boolean' ||
    typeof d.created !== 'string'
  ) {
    throw new BerthError('ESTORE', `read network ${file}: not a berth network definition`);
  }
  parseSubnet(d.subnet);
  return { name: d.name, id: d.id, driver: d.driver, bridge: d.bridge, subnet: d.subnet, gateway: d.gateway, internal: d.internal, created: d.created };
}

export class NetworkStore {
  readonly root: string;
  readonly dir: string;
  private readonly opts: NetworkStoreOptions;

  constructor(opts: NetworkStoreOptions) {
    this.opts = opts;
    this.root = opts.root;
    this.dir = path.join(opts.root, 'networks');
  }

  private file(name: string): string {
    if (!NAME.test(name)) throw new BerthError('EINVAL_ARGUMENT', `network name ${JSON.stringify(name)}: use letters, digits, _ . - (at most 64, starting with a letter or digit)`);
    return path.join(this.dir, `${name}.json`);
  }

  private async locked<T>(what: string, fn: () => Promise<T>): Promise<T> {
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    return withFileLock(path.join(this.dir, '.lock'), { mode: 'exclusive', what: `${what}: lock ${this.dir}`, errorCode: 'ESTORE' }, fn);
  }

  /** Every network, by name. */
  async list(): Promise<NetworkDef[]> {
    let names: string[];
    try {
      names = await readdir(this.dir);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw BerthError.wrap(`list networks in ${this.dir}`, err, 'ESTORE');
    }
    const out: NetworkDef[] = [];
    for (const n of names.filter((x) => x.endsWith('.json') && !x.startsWith('.')).sort()) {
      const file = path.join(this.dir, n);
      out.push(parseDef(await readFile(file, 'utf8'), file));
    }
    return out;
  }

  /** One network, or undefined. */
  async get(name: string): Promise<NetworkDef | undefined> {
    const file = this.file(name);
    try {
      return parseDef(await readFile(file, 'utf8'), file);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
  }

  /** One network, or ENOT_FOUND naming it. */
  async inspect(name: string): Promise<NetworkDef> {
    const def = await this.get(name);
    if (!def) throw new BerthError('ENOT_FOUND', `inspect network ${name}: no such network`);
    return def;
  }

  /**
   * Create a network. Refused with ENETWORK_CONFLICT when the name exists, when the subnet
   * overlaps another network's or a host route, or when the bridge name is taken; with
   * EINVAL_ARGUMENT when the subnet or gateway is malformed or the gateway is outside the subnet.
   */
  async create(opts: CreateNetworkOptions): Promise<NetworkDef> {
    if (RESERVED.has(opts.name)) throw new BerthError('EINVAL_ARGUMENT', `create network ${opts.name}: the name is reserved`);
    return this.createLocked(opts);
  }

  private async createLocked(opts: CreateNetworkOptions & { allowReserved?: boolean; ownRoute?: Subnet }): Promise<NetworkDef> {
    const file = this.file(opts.name);
    return this.locked(`create network ${opts.name}`, async () => {
      const existing = await this.list();
      if (existing.some((n) => n.name === opts.name)) throw new BerthError('ENETWORK_CONFLICT', `create network ${opts.name}: a network with that name exists`);
      // The routes of a bridge this network adopts (its subnet, its address, its broadcast) are its own.
      const own = opts.ownRoute;
      const routes = (await (this.opts.hostRoutes ?? hostRoutes)()).filter((r) => !(own && r.prefix >= own.prefix && subnetContains(own, r.base)));
      let subnet: Subnet;
      if (opts.subnet !== undefined) {
        subnet = parseSubnet(opts.subnet);
        if (subnet.prefix > 30) throw new BerthError('EINVAL_ARGUMENT', `create network ${opts.name}: subnet ${opts.subnet} is too small (at most /30)`);
        const other = existing.find((n) => subnetsOverlap(parseSubnet(n.subnet), subnet));
        if (other) throw new BerthError('ENETWORK_CONFLICT', `create network ${opts.name}: subnet ${opts.subnet} overlaps ${other.subnet} of network ${other.name}`);
        const route = routes.find((r) => subnetsOverlap(r, subnet));
        if (route) throw new BerthError('ENETWORK_CONFLICT', `create network ${opts.name}: subnet ${opts.subnet} overlaps the host route to ${formatSubnet(route)}`);
      } else {
        subnet = pickSubnet([...existing.map((n) => parseSubnet(n.subnet)), ...routes], (this.opts.pool ?? subnetPool)());
      }
      let gateway = firstHost(subnet);
      if (opts.gateway !== undefined) {
        const gw = parseIPv4(opts.gateway);
        if (gw === undefined) throw new BerthError('EINVAL_ARGUMENT', `create network ${opts.name}: gateway ${JSON.stringify(opts.gateway)} is not an IPv4 address`);
        if (!subnetContains(subnet, gw) || gw === subnet.base) {
          throw new BerthError('EINVAL_ARGUMENT', `create network ${opts.name}: gateway ${opts.gateway} is not a host address of ${formatSubnet(subnet)}`);
        }
        gateway = gw;
      }
      const id = randomBytes(32).toString('hex');
      const bridge = opts.bridge ?? `br-${id.slice(0, 12)}`;
      if (!/^[A-Za-z0-9_.-]{1,15}$/.test(bridge)) throw new BerthError('EINVAL_ARGUMENT', `create network ${opts.name}: bridge name ${JSON.stringify(bridge)} is not a Linux interface name`);
      const clash = existing.find((n) => n.bridge === bridge);
      if (clash) throw new BerthError('ENETWORK_CONFLICT', `create network ${opts.name}: bridge ${bridge} belongs to network ${clash.name}`);
      const def: NetworkDef = {
        name: opts.name,
        id,
        driver: 'bridge',
        bridge,
        subnet: formatSubnet(subnet),
        gateway: formatIPv4(gateway),
        internal: opts.internal ?? false,
        created: new Date().toISOString(),
      };
      await writeFileAtomic(file, Buffer.from(`${JSON.stringify(def, null, 2)}\n`), this.dir, 0o600);
      return def;
    });
  }

  /** The default `bridge` network, created on first use (bridge berth0, a free pool subnet). */
  async ensureDefault(): Promise<NetworkDef> {
    const def = await this.get(DEFAULT_NETWORK);
    if (def) return def;
    const bridge = this.opts.defaultBridge ?? DEFAULT_BRIDGE;
    // The bridge may be there already with its address (made by another berth root on this host,
    // or before this root's definitions were removed): the bridge plugin refuses a second address,
    // so the network takes the bridge's subnet and gateway, as docker keeps docker0's.
    const existingAddr = await bridgeAddress(bridge);
    try {
      return await this.createLocked({
        name: DEFAULT_NETWORK,
        bridge,
        allowReserved: true,
        ...(existingAddr ? { subnet: formatSubnet(existingAddr.subnet), gateway: existingAddr.gateway, ownRoute: existingAddr.subnet } : {}),
      });
    } catch (err) {
      // Another berth created it meanwhile.
      const now = await this.get(DEFAULT_NETWORK);
      if (now) return now;
      throw err;
    }
  }

  /**
   * Remove a network: refused with EIN_USE while a container is attached (its CNI cache
   * entries), otherwise the definition, its IPAM leases directory and its Linux bridge go.
   * The default network can be removed only with `force` (tests; docker never removes it).
   */
  async remove(name: string, opts: { force?: boolean } = {}): Promise<void> {
    if (name === DEFAULT_NETWORK && !opts.force) throw new BerthError('EINVAL_ARGUMENT', `remove network ${name}: the default network cannot be removed`);
    const file = this.file(name);
    await this.locked(`remove network ${name}`, async () => {
      const def = await this.get(name);
      if (!def) throw new BerthError('ENOT_FOUND', `remove network ${name}: no such network`);
      const users = (await listCachedAttachments(cniCacheDir(this.root))).filter((a) => a.networkName === name);
      if (users.length > 0) {
        throw new BerthError('EIN_USE', `remove network ${name}: containers are attached (${[...new Set(users.map((u) => u.containerId))].join(', ')})`);
      }
      await rm(file, { force: true });
      await rm(path.join(ipamDataDir(this.root), name), { recursive: true, force: true });
      await deleteLink(def.bridge);
    });
  }

  /**
   * Checks an address asked for with `--ip`: an IPv4 host address of the network's subnet,
   * not its gateway, and not leased by host-local to another container (its lease files are
   * named by address). Returns it with the subnet's prefix length, as host-local's `ips` takes it.
   */
  async checkAddress(def: NetworkDef, ip: string, what: string): Promise<string> {
    const addr = parseIPv4(ip);
    if (addr === undefined) throw new BerthError('EINVAL_ARGUMENT', `${what}: ${JSON.stringify(ip)} is not an IPv4 address`);
    const subnet = parseSubnet(def.subnet);
    const broadcast = (subnet.base + 2 ** (32 - subnet.prefix) - 1) >>> 0;
    if (!subnetContains(subnet, addr) || addr === subnet.base || addr === broadcast) {
      throw new BerthError('EINVAL_ARGUMENT', `${what}: ${ip} is not a host address of network ${def.name} (${def.subnet})`);
    }
    const canon = formatIPv4(addr);
    if (canon === def.gateway) throw new BerthError('ENETWORK_CONFLICT', `${what}: ${ip} is the gateway of network ${def.name}`);
    if (existsSync(path.join(ipamDataDir(this.root), def.name, canon))) throw new BerthError('ENETWORK_CONFLICT', `${what}: ${ip} is already in use on network ${def.name}`);
    return `${canon}/${subnet.prefix}`;
  }

  /** The CNI configuration list of `def`: bridge + host-local, then portmap (not on internal networks), then firewall. */
  confList(def: NetworkDef): NetworkConfList {
    const plugins: NetworkConfList['plugins'] = [
      {
        type: 'bridge',
        bridge: def.bridge,
        // `--ip` (host-local reads runtimeConfig.ips through the bridge's config) and `--mac-address`.
        capabilities: { ips: true, mac: true },
        isGateway: true,
        ipMasq: !def.internal,
        hairpinMode: true,
        ipam: {
          type: 'host-local',
          ranges: [[{ subnet: def.subnet, gateway: def.gateway }]],
          routes: def.internal ? [] : [{ dst: '0.0.0.0/0' }],
          dataDir: ipamDataDir(this.root),
        },
      },
    ];
    if (!def.internal) plugins.push({ type: 'portmap', capabilities: { portMappings: true }, snat: true });
    plugins.push({ type: 'firewall', backend: 'iptables' });
    return { cniVersion: CNI_VERSION, name: def.name, plugins };
  }
}

/** `ip link del DEV` (and the bridge's CVE-2020-8558 rule), no error when it does not exist. */
export async function deleteLink(dev: string): Promise<void> {
  if (!/^[A-Za-z0-9_.-]{1,15}$/.test(dev)) return;
  await removeLocalnetGuard(dev);
  if (!existsSync(path.join('/sys/class/net', dev))) return;
  try {
    await execFileP('ip', ['link', 'del', dev]);
  } catch (err) {
    const stderr = String((err as { stderr?: unknown }).stderr ?? '');
    if (/Cannot find device|does not exist/i.test(stderr)) return;
    throw new BerthError('ENETWORK_PLUGIN', `delete link ${dev}: ${stderr.trim() || String(err)}`, { cause: err });
  }
}

/** The loopback plugin's list: brings `lo` up inside the namespace (CNI_IFNAME=lo). */
export function loopbackConfList(): NetworkConfList {
  return { cniVersion: CNI_VERSION, name: 'berth-loopback', plugins: [{ type: 'loopback' }] };
}

/** The host ports `mappings` publish, for the conflict check of the next container. */
export function mappingsOf(capabilityArgs: Record<string, unknown> | undefined): PortMapping[] {
  const v = capabilityArgs?.['portMappings'];
  return Array.isArray(v) ? (v as PortMapping[]) : [];
}

/** The IPv4 address and subnet of an existing Linux bridge, or undefined (no such link, no address). */
async function bridgeAddress(bridge: string): Promise<{ gateway: string; subnet: Subnet } | undefined> {
  try {
    const { stdout } = await promisify(execFile)('ip', ['-j', '-4', 'addr', 'show', 'dev', bridge]);
    const links = JSON.parse(stdout) as Array<{ addr_info?: Array<{ local?: string; prefixlen?: number }> }>;
    const a = links[0]?.addr_info?.find((x) => typeof x.local === 'string' && typeof x.prefixlen === 'number');
    if (!a?.local || a.prefixlen === undefined) return undefined;
    const ip = parseIPv4(a.local);
    if (ip === undefined || a.prefixlen < 1 || a.prefixlen > 30) return undefined;
    const m = (~0 << (32 - a.prefixlen)) >>> 0;
    return { gateway: a.local, subnet: { base: (ip & m) >>> 0, prefix: a.prefixlen } };
  } catch {
    return undefined;
  }
}
