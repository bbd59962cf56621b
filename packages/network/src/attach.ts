/**
 * A container's whole network, the API `berth run`/`rm` and the cleanup of dead containers
 * call: make the namespace, bring up loopback, ADD each network, publish ports, produce
 * resolv.conf and hosts; and take all of it down again with CNI DEL, from the cache alone.
 */
import path from 'node:path';
import { mkdir, readdir, rm } from 'node:fs/promises';
import { BerthError } from '@berth/oci';
import { withFileLock } from '@berth/store';
import { addNetwork, delNetwork, listCachedAttachments, type CniOptions } from './cni.js';
import { containerHosts, containerResolvConf, readHostResolvConf } from './dns.js';
import { createNetns, netnsPath, removeNetns, sweepNetns } from './netns.js';
import { resolvePortMappings, type PortMapping, type PortSpec } from './ports.js';
import { containerAddresses, type CniResult } from './result.js';
import { ensureLocalnetGuard } from './guard.js';
import { addResolverEntry, findAardvark, removeResolverEntries, sweepResolvers } from './resolver.js';
import { DEFAULT_NETWORK, cniCacheDir, loopbackConfList, mappingsOf, type NetworkDef, type NetworkStore } from './store.js';

export interface NetworkPaths {
  /** $BERTH_ROOT: network definitions, IPAM leases, the CNI cache. */
  root: string;
  /** $BERTH_STATE: the namespaces (`netns/<id>`). */
  state: string;
  /** CNI plugin directories (default /usr/lib/cni). */
  pluginDirs?: readonly string[];
}

export interface AttachRequest {
  /** Network name. */
  network: string;
  /** `--network-alias` names (the network's resolver, and /etc/hosts). */
  aliases?: string[];
  /** `--ip`: the address on this network (checked: in the subnet, not the gateway, not leased). */
  ip?: string;
  /** `--mac-address`: the interface's MAC address (bridge plugin's `mac` capability). */
  mac?: string;
}

export interface SetupOptions extends NetworkPaths {
  store: NetworkStore;
  containerId: string;
  /** In order: the first becomes eth0 and carries the published ports. */
  networks: AttachRequest[];
  /** `-p`/`-P` specs, resolved to host ports and checked for conflicts under a lock. */
  ports?: PortSpec[];
  hostname: string;
  /** `--name`, put in /etc/hosts next to the hostname. */
  name?: string;
  /** `--dns` (or an embedded resolver's address): replaces the host's nameservers. */
  dns?: string[];
  dnsSearch?: string[];
  dnsOptions?: string[];
  extraHosts?: Array<{ name: string; ip: string }>;
  /** resolv.conf to start from (default /etc/resolv.conf). */
  hostResolvConf?: string;
  /**
   * Bring `lo` up with the CNI loopback plugin (default true). False when the container's
   * runtime brings it up itself (berth's init does, in every network namespace it joins or
   * makes): one plugin run fewer at ADD and at DEL.
   */
  loopback?: boolean;
  /**
   * Serve names on user-defined networks with aardvark-dns on the gateway (resolver.ts): default
   * true when it is installed. False, or not installed: no resolver, the host's nameservers.
   */
  resolver?: boolean;
}

export interface Attachment {
  network: string;
  ifName: string;
  result: CniResult;
  /** Container addresses, CIDR. */
  addresses: string[];
  aliases: string[];
}

export interface ContainerNetwork {
  /** The namespace file for the container's setns / CNI_NETNS. */
  netns: string;
  attachments: Attachment[];
  ports: PortMapping[];
  /** The texts to write as the container's /etc/resolv.conf and /etc/hosts. */
  resolvConf: string;
  hosts: string;
  /** The networks whose resolver serves this container's names (user networks, aardvark-dns). */
  resolverNetworks: string[];
}

function cniOptions(p: NetworkPaths): CniOptions {
  return { cacheDir: cniCacheDir(p.root), ...(p.pluginDirs ? { pluginDirs: p.pluginDirs } : {}) };
}

/** Every host port the cache says a container other than `except` publishes. */
export async function publishedPorts(p: Pick<NetworkPaths, 'root'>, except?: string): Promise<PortMapping[]> {
  return (await listCachedAttachments(cniCacheDir(p.root))).filter((a) => a.containerId !== except).flatMap((a) => mappingsOf(a.capabilityArgs));
}

/**
 * Set up a container's network. On any failure everything done so far is undone (CNI DEL of
 * each attachment, the namespace removed) before the error is thrown, so a failed setup
 * leaves no veth, rule, lease or namespace; port conflicts are found before any plugin runs.
 */
export async function setupContainerNetwork(opts: SetupOptions): Promise<ContainerNetwork> {
  if (opts.networks.length === 0) throw new BerthError('EINVAL_ARGUMENT', `set up the network of ${opts.containerId}: no network given`);
  const defs: NetworkDef[] = [];
  for (const req of opts.networks) defs.push(await opts.store.inspect(req.network));
  const cni = cniOptions(opts);
  const netns = await createNetns({ stateDir: opts.state, id: opts.containerId });
  const attachments: Attachment[] = [];
  let ports: PortMapping[] = [];
  const resolverNetworks: string[] = [];
  try {
    if (opts.loopback !== false) await addNetwork(loopbackConfList(), { containerId: opts.containerId, netns, ifName: 'lo' }, cni);
    const attachAll = async (): Promise<void> => {
      if (opts.ports && opts.ports.length > 0) {
        if (defs[0]?.internal) throw new BerthError('EINVAL_ARGUMENT', `publish ports of ${opts.containerId}: network ${defs[0].name} is internal`);
        ports = await resolvePortMappings(opts.ports, { inUse: await publishedPorts(opts, opts.containerId) });
      }
      if (ports.length > 0 && defs[0]) await ensureLocalnetGuard(defs[0].bridge);
      for (const [i, def] of defs.entries()) {
        const ifName = `eth${i}`;
        const req = opts.networks[i];
        const caps = await attachmentCapabilities(opts.store, def, req);
        if (i === 0 && ports.length > 0) caps['portMappings'] = ports;
        const result = await addNetwork(opts.store.confList(def), { containerId: opts.containerId, netns, ifName, ...(Object.keys(caps).length > 0 ? { capabilityArgs: caps } : {}) }, cni);
        attachments.push({ network: def.name, ifName, result, addresses: containerAddresses(result), aliases: req?.aliases ?? [] });
      }
    };
    if (opts.ports && opts.ports.length > 0) {
      // The check and the ADD that publishes are one step for other containers starting now.
      await mkdir(path.join(opts.root, 'cni'), { recursive: true, mode: 0o700 });
      await withFileLock(path.join(opts.root, 'cni', 'ports.lock'), { mode: 'exclusive', what: 'publish ports: lock', errorCode: 'ENETWORK_CONFLICT' }, attachAll);
    } else {
      await attachAll();
    }
    for (const [i, a] of attachments.entries()) {
      const def = defs[i];
      if (!def || !served(def, opts)) continue;
      const names = [...(opts.name ? [opts.name] : []), ...a.aliases, opts.containerId.slice(0, 12)];
      await addResolverEntry({ state: opts.state, network: def.name, gateway: def.gateway }, { containerId: opts.containerId, ipv4: a.addresses.map((x) => x.split('/')[0] as string), names });
      resolverNetworks.push(def.name);
    }
  } catch (err) {
    await teardownContainerNetwork({ ...opts, containerId: opts.containerId }).catch(() => undefined);
    throw err;
  }
  const hostConf = await readHostResolvConf(opts.hostResolvConf);
  // docker's rule: `--dns` wins over the embedded resolver; otherwise the first network's resolver.
  const gateway = defs.find((d) => resolverNetworks.includes(d.name))?.gateway;
  const resolvConf = containerResolvConf({
    host: hostConf,
    ...(opts.dns ? { nameservers: opts.dns } : gateway !== undefined ? { nameservers: [gateway] } : {}),
    ...(opts.dnsSearch ? { search: opts.dnsSearch } : {}),
    ...(opts.dnsOptions ? { options: opts.dnsOptions } : {}),
  });
  const hosts = containerHosts({
    hostname: opts.hostname,
    addresses: attachments.flatMap((a) => a.addresses),
    aliases: [...(opts.name ? [opts.name] : []), ...attachments.flatMap((a) => a.aliases)],
    ...(opts.extraHosts ? { extraHosts: opts.extraHosts } : {}),
  });
  return { netns, attachments, ports, resolvConf, hosts, resolverNetworks };
}

/** Whether the network's resolver serves names for this setup: user networks, aardvark-dns installed, not turned off. */
function served(def: NetworkDef, opts: Pick<SetupOptions, 'resolver'>): boolean {
  return def.name !== DEFAULT_NETWORK && (opts.resolver ?? findAardvark() !== undefined);
}

/**
 * The runtimeConfig values of one attachment: `ips` (host-local) for `--ip`, `mac` (bridge) for
 * `--mac-address`. Errors start with `what`, else with the flag's name.
 */
export async function attachmentCapabilities(store: NetworkStore, def: NetworkDef, req: Pick<AttachRequest, 'ip' | 'mac'> | undefined, what?: string): Promise<Record<string, unknown>> {
  const caps: Record<string, unknown> = {};
  if (req?.ip !== undefined) caps['ips'] = [await store.checkAddress(def, req.ip, what ?? '--ip')];
  if (req?.mac !== undefined) caps['mac'] = checkMac(req.mac, what ?? '--mac-address');
  return caps;
}

/** A unicast MAC address, lower-cased. */
export function checkMac(mac: string, what: string): string {
  const m = mac.toLowerCase();
  if (!/^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/.test(m)) throw new BerthError('EINVAL_ARGUMENT', `${what}: ${JSON.stringify(mac)} is not a MAC address (xx:xx:xx:xx:xx:xx)`);
  if ((Number.parseInt(m.slice(0, 2), 16) & 1) === 1) throw new BerthError('EINVAL_ARGUMENT', `${what}: ${mac} is a multicast MAC address`);
  return m;
}

/**
 * Take a container off every network it is on (CNI DEL of each cached attachment, the
 * loopback last) and remove its namespace. Idempotent; needs nothing but the cache, so it
 * works for a container whose network was changed or whose berth was killed. Every
 * attachment is tried; the first error is thrown after all were.
 */
export async function teardownContainerNetwork(opts: NetworkPaths & { containerId: string }): Promise<void> {
  const cni = cniOptions(opts);
  const all = await listCachedAttachments(cni.cacheDir, opts.containerId);
  const ordered = [...all.filter((a) => a.ifName !== 'lo'), ...all.filter((a) => a.ifName === 'lo')];
  let first: unknown;
  try {
    await removeResolverEntries({ state: opts.state, containerId: opts.containerId });
  } catch (err) {
    first = err;
  }
  for (const a of ordered) {
    try {
      await delNetwork({ networkName: a.networkName, containerId: a.containerId, ifName: a.ifName }, cni);
    } catch (err) {
      first ??= err;
    }
  }
  try {
    await removeNetns(netnsPath(opts.state, opts.containerId));
  } catch (err) {
    first ??= err;
  }
  if (first !== undefined) throw BerthError.wrap(`tear down the network of ${opts.containerId}`, first, 'ENETWORK_PLUGIN');
}

/**
 * The cleanup for dead containers (and `berth network prune`'s first half): tear down every
 * container the cache or the netns directory knows and `alive(id)` says is gone. Returns the
 * container IDs cleaned up.
 */
export async function sweepContainerNetworks(opts: NetworkPaths & { alive: (id: string) => boolean | Promise<boolean> }): Promise<string[]> {
  const cni = cniOptions(opts);
  await removeDeadWritersTemps(cni.cacheDir);
  const ids = new Set((await listCachedAttachments(cni.cacheDir)).map((a) => a.containerId));
  const swept: string[] = [];
  let first: unknown;
  for (const id of [...ids].sort()) {
    if (await opts.alive(id)) continue;
    try {
      await teardownContainerNetwork({ ...opts, containerId: id });
      swept.push(id);
    } catch (err) {
      first ??= err;
    }
  }
  for (const id of await sweepNetns({ stateDir: opts.state, alive: opts.alive })) if (!swept.includes(id)) swept.push(id);
  try {
    await sweepResolvers({ state: opts.state, alive: opts.alive });
  } catch (err) {
    first ??= err;
  }
  if (first !== undefined) throw BerthError.wrap('sweep the networks of dead containers', first, 'ENETWORK_PLUGIN');
  return swept;
}

/**
 * The temp files of atomic cache writes (`<entry>.json-<pid>-<random>`) whose writer is gone: a
 * berth SIGKILLed in the middle of writing an attachment record leaves one (the kill test found it).
 */
async function removeDeadWritersTemps(cacheDir: string): Promise<void> {
  let names: string[];
  try {
    names = await readdir(cacheDir);
  } catch {
    return;
  }
  for (const name of names) {
    const pid = /\.json-(\d+)-[0-9a-f]+$/.exec(name)?.[1];
    if (pid === undefined || processAlive(Number(pid))) continue;
    await rm(path.join(cacheDir, name), { force: true });
  }
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
