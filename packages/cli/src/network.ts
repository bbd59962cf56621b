import { BerthError } from '@berth/oci';
import type { ContainerSpec, ContainerInfo } from '@berth/runtime';
import type { CommandContext } from './context.js';

/** What `--network` names: docker's modes and a network's name. */
export type NetworkChoice =
  | { kind: 'none' }
  | { kind: 'host' }
  | { kind: 'container'; container: string }
  | { kind: 'network'; name: string };

/** The network flags of `run`, as the command declares them. */
export interface NetworkFlags {
  network?: string;
  publish?: string[];
  publishAll?: boolean;
  dns?: string[];
  dnsSearch?: string[];
  dnsOption?: string[];
  addHost?: string[];
  ip?: string;
  networkAlias?: string[];
  macAddress?: string;
}

/** The flags checked (before anything is pulled or copied), in the shapes the setup takes. */
export interface NetworkPlan {
  choice: NetworkChoice;
  publish: import('@berth/network').PortSpec[];
  publishAll: boolean;
  dns?: string[];
  dnsSearch?: string[];
  dnsOptions?: string[];
  extraHosts: Array<{ name: string; ip: string }>;
  aliases: string[];
  /** `--ip` (user networks only) and `--mac-address`, checked against the network at setup. */
  ip?: string;
  mac?: string;
}

function invalid(flag: string, value: string, why: string): BerthError {
  return new BerthError('EINVAL_ARGUMENT', `invalid ${flag} ${JSON.stringify(value)}: ${why}`, { details: { flag } });
}

export function parseNetworkChoice(value: string | undefined): NetworkChoice {
  const v = value ?? 'bridge';
  if (v === 'none' || v === 'host') return { kind: v };
  if (v === 'default') return { kind: 'network', name: 'bridge' };
  if (v.startsWith('container:')) {
    const container = v.slice('container:'.length);
    if (container === '') throw invalid('--network', v, 'container: needs a container name or id');
    return { kind: 'container', container };
  }
  if (v === '') throw invalid('--network', v, 'empty network name');
  return { kind: 'network', name: v };
}

/**
 * Checks the network flags of `run` without touching the host, so bad ones are refused
 * before anything is pulled (exit 125, one line naming the flag). `--ip` needs a user-defined
 * network (docker's rule); whether the address is in its subnet and free is checked at setup.
 */
export async function planNetwork(flags: NetworkFlags): Promise<NetworkPlan> {
  // node:net only here: `berth ps` loads this module for the ports and the network sweep.
  const [{ parsePublishSpec }, { isIP }] = await Promise.all([import('@berth/network'), import('node:net')]);
  const choice = parseNetworkChoice(flags.network);
  const attached = choice.kind === 'network';
  if (flags.ip !== undefined) {
    if (isIP(flags.ip) !== 4) throw invalid('--ip', flags.ip, 'not an IPv4 address');
    if (!(choice.kind === 'network' && choice.name !== 'bridge')) throw invalid('--ip', flags.ip, 'a chosen address needs a user-defined network (--network NAME)');
  }
  if (flags.macAddress !== undefined) {
    const { checkMac } = await import('@berth/network');
    checkMac(flags.macAddress, '--mac-address');
    if (!attached) throw invalid('--mac-address', flags.macAddress, `--network ${flags.network ?? ''} has no interface of berth's`);
  }
  const publish = (flags.publish ?? []).map((p) => parsePublishSpec(p));
  if (!attached && (publish.length > 0 || flags.publishAll)) {
    // docker drops them silently for host and none; refusing says why nothing is reachable.
    const what = publish.length > 0 ? '-p/--publish' : '-P/--publish-all';
    throw new BerthError('EINVAL_ARGUMENT', `${what} needs a bridge network: --network ${flags.network ?? ''} has no ports to publish`, { details: { flag: what } });
  }
  const aliases = flags.networkAlias ?? [];
  if (aliases.length > 0 && !(choice.kind === 'network' && choice.name !== 'bridge')) {
    throw new BerthError('EINVAL_ARGUMENT', '--network-alias: network-scoped aliases are only supported on user-defined networks', { details: { flag: '--network-alias' } });
  }
  for (const d of flags.dns ?? []) if (isIP(d) === 0) throw invalid('--dns', d, 'not an IP address');
  const extraHosts = (flags.addHost ?? []).map((h) => {
    const i = h.indexOf(':');
    const name = h.slice(0, i);
    const ip = h.slice(i + 1).replace(/^\[(.*)\]$/, '$1');
    if (i <= 0 || isIP(ip) === 0 || !/^[A-Za-z0-9][A-Za-z0-9.-]*$/.test(name)) throw invalid('--add-host', h, 'expected NAME:IP');
    return { name, ip };
  });
  return {
    choice,
    publish,
    publishAll: Boolean(flags.publishAll),
    ...(flags.dns ? { dns: flags.dns } : {}),
    ...(flags.dnsSearch ? { dnsSearch: flags.dnsSearch } : {}),
    ...(flags.dnsOption ? { dnsOptions: flags.dnsOption } : {}),
    extraHosts,
    aliases,
    ...(flags.ip !== undefined ? { ip: flags.ip } : {}),
    ...(flags.macAddress !== undefined ? { mac: flags.macAddress } : {}),
  };
}

/** The runtime's part of the choice: its own namespace ('none', joined or made) or the host's. */
export function runtimeNetworkMode(choice: NetworkChoice): 'none' | 'host' {
  return choice.kind === 'host' ? 'host' : 'none';
}

/** What the network step reads from and writes into a container's spec. */
export type NetworkSpecPart = Pick<ContainerSpec, 'hostname' | 'netns' | 'etc'>;

export interface AttachOptions {
  plan: NetworkPlan;
  containerId: string;
  name?: string;
  /** The spec's network part: its hostname in, `netns` and `etc` out (run copies them into the spec). */
  spec: NetworkSpecPart;
  /** The image's `ExposedPorts` (for -P). */
  exposedPorts?: Record<string, unknown>;
  /** The runtime, to find a `container:NAME` container. */
  inspect: (idOrName: string) => Promise<ContainerInfo>;
  /** The runtime's containers (the running peers get this one's name on a user network). */
  list: () => Promise<ContainerInfo[]>;
}

function runningIds(list: readonly ContainerInfo[]): Set<string> {
  return new Set(list.filter((c) => c.status === 'running').map((c) => c.id));
}

/**
 * Gives the spec its network: for a bridge or user network, a namespace with the CNI
 * attachments (`spec.netns`) and the files the setup wrote (`spec.etc`); for
 * `container:NAME`, that container's namespace and files. Network setup errors (a port
 * in use, an unknown network) are thrown with nothing left behind.
 */
export async function attachNetwork(ctx: CommandContext, o: AttachOptions): Promise<void> {
  const { choice } = o.plan;
  if (choice.kind === 'container') {
    const other = await o.inspect(choice.container);
    if (other.status !== 'running' || other.pid === undefined) {
      throw new BerthError('ECONTAINER_STATE', `join the network of container ${choice.container}: it is not running`);
    }
    o.spec.netns = `/proc/${other.pid}/ns/net`;
    // Its hosts and resolv.conf too (docker shares them with the namespace): they name its address.
    const { readFile } = await import('node:fs/promises');
    const { join } = await import('node:path');
    const dir = join(ctx.loc.state, other.id);
    const [hosts, resolvConf] = await Promise.all([readFile(join(dir, 'hosts'), 'utf8'), readFile(join(dir, 'resolv.conf'), 'utf8')]).catch(() => [undefined, undefined]);
    if (hosts !== undefined && resolvConf !== undefined) o.spec.etc = { hosts, resolvConf };
    return;
  }
  if (choice.kind !== 'network') return;
  const net = await import('@berth/network');
  const store = await networkStore(ctx);
  await store.ensureDefault();
  const ports = [...o.plan.publish, ...(o.plan.publishAll ? net.publishAllSpecs(o.exposedPorts ?? {}) : [])];
  const attached = await net.setupContainerNetwork({
    root: ctx.loc.root,
    state: ctx.loc.state,
    store,
    containerId: o.containerId,
    networks: [{ network: choice.name, aliases: o.plan.aliases, ...(o.plan.ip !== undefined ? { ip: o.plan.ip } : {}), ...(o.plan.mac !== undefined ? { mac: o.plan.mac } : {}) }],
    ports,
    hostname: o.spec.hostname,
    ...(o.name !== undefined ? { name: o.name } : {}),
    ...(o.plan.dns ? { dns: o.plan.dns } : {}),
    ...(o.plan.dnsSearch ? { dnsSearch: o.plan.dnsSearch } : {}),
    ...(o.plan.dnsOptions ? { dnsOptions: o.plan.dnsOptions } : {}),
    extraHosts: o.plan.extraHosts,
    // The init brings lo up in the namespace it joins (runtime init/sequence.ts).
    loopback: false,
  });
  o.spec.netns = attached.netns;
  let hosts = attached.hosts;
  const address = attached.attachments[0]?.addresses[0]?.split('/')[0];
  // Without aardvark-dns, names between containers go through their hosts files (network-names.ts).
  if (address !== undefined && choice.name !== 'bridge' && !attached.resolverNetworks.includes(choice.name)) {
    const { publishNames } = await import('./network-names.js');
    hosts = await publishNames(ctx, { network: choice.name, containerId: o.containerId, address, hosts, running: runningIds(await o.list()) });
  }
  o.spec.etc = { hosts, resolvConf: attached.resolvConf };
}

/** Takes the names of `containerId`'s attachments out of its peers' hosts files (network-names.ts). */
async function withdrawAll(ctx: CommandContext, attachments: readonly import('@berth/network').CachedAttachment[], running: ReadonlySet<string>): Promise<void> {
  const { containerAddresses } = await import('@berth/network');
  const { withdrawNames } = await import('./network-names.js');
  for (const a of attachments) {
    const address = a.result ? containerAddresses(a.result)[0]?.split('/')[0] : undefined;
    if (a.ifName === 'lo' || address === undefined) continue;
    await withdrawNames(ctx, { network: a.networkName, containerId: a.containerId, address, running });
  }
}

/**
 * The network store of this BERTH_ROOT. BERTH_DEFAULT_BRIDGE and BERTH_DEFAULT_SUBNET choose
 * the default network's bridge and subnet when it is first made (tests give each root its
 * own; a host whose 10.88.0.0/16 is taken can too); otherwise berth0 and the first free /16.
 */
export async function networkStore(ctx: CommandContext): Promise<import('@berth/network').NetworkStore> {
  const net = await import('@berth/network');
  const bridge = ctx.env['BERTH_DEFAULT_BRIDGE'];
  const subnet = ctx.env['BERTH_DEFAULT_SUBNET'];
  return new net.NetworkStore({
    root: ctx.loc.root,
    ...(bridge ? { defaultBridge: bridge } : {}),
    ...(subnet ? { pool: () => [net.parseSubnet(subnet)] } : {}),
  });
}

/** Takes a container off its networks (CNI DEL from the cache, then its namespace). Idempotent. */
export async function detachNetwork(ctx: CommandContext, containerId: string): Promise<void> {
  const { cniCacheDir, listCachedAttachments, teardownContainerNetwork } = await import('@berth/network');
  const mine = await listCachedAttachments(cniCacheDir(ctx.loc.root), containerId);
  if (mine.some((a) => a.ifName !== 'lo' && a.networkName !== 'bridge')) {
    const { Runtime } = await import('@berth/runtime');
    await withdrawAll(ctx, mine, runningIds(await new Runtime({ stateDir: ctx.loc.state }).list()));
  }
  await teardownContainerNetwork({ root: ctx.loc.root, state: ctx.loc.state, containerId });
}

/**
 * The network part of the cleanup path: every attachment and namespace of a container that
 * is not running or being created (stopped, removed, or whose berth was killed) is DELeted,
 * as docker releases a container's address and ports when it stops. Loads @berth/network
 * only when some attachment or namespace exists.
 */
export async function sweepNetworks(ctx: CommandContext, live: readonly ContainerInfo[]): Promise<string[]> {
  const { readdirOrEmpty } = await import('./containers.js');
  const { join } = await import('node:path');
  if (readdirOrEmpty(join(ctx.loc.root, 'cni', 'results')).length === 0 && readdirOrEmpty(join(ctx.loc.state, 'netns')).length === 0) return [];
  const keep = new Set(live.filter((c) => c.status === 'running' || c.status === 'created').map((c) => c.id));
  const { cniCacheDir, listCachedAttachments, sweepContainerNetworks } = await import('@berth/network');
  const gone = (await listCachedAttachments(cniCacheDir(ctx.loc.root))).filter((a) => !keep.has(a.containerId));
  await withdrawAll(ctx, gone, runningIds(live));
  return sweepContainerNetworks({ root: ctx.loc.root, state: ctx.loc.state, alive: (id) => keep.has(id) });
}

/** A container's published ports and addresses, from the CNI cache. */
export async function containerNetworkSettings(ctx: CommandContext, containerId: string): Promise<ContainerNetworkSettings> {
  const { listCachedAttachments, cniCacheDir, containerAddresses } = await import('@berth/network');
  const entries = await listCachedAttachments(cniCacheDir(ctx.loc.root), containerId);
  const out: ContainerNetworkSettings = { networks: {}, ports: [] };
  for (const e of entries) {
    if (e.ifName === 'lo') continue;
    const addresses = e.result ? containerAddresses(e.result) : [];
    const gateway = e.result?.ips?.[0]?.gateway ?? '';
    const mac = e.result?.interfaces?.find((i) => i.sandbox !== undefined && i.sandbox !== '')?.mac ?? '';
    out.networks[e.networkName] = { ifName: e.ifName, addresses, gateway, macAddress: mac, netns: e.netns };
    const pm = e.capabilityArgs?.['portMappings'];
    if (Array.isArray(pm)) out.ports.push(...(pm as import('@berth/network').PortMapping[]));
  }
  return out;
}

export interface ContainerNetworkSettings {
  networks: Record<string, { ifName: string; addresses: string[]; gateway: string; macAddress: string; netns: string }>;
  ports: import('@berth/network').PortMapping[];
}

/** docker's PORTS text: `0.0.0.0:8080->80/tcp, 127.0.0.1:9000->9000/udp`. */
export function formatPorts(ports: readonly import('@berth/network').PortMapping[]): string {
  return ports.map((p) => `${p.hostIP ? p.hostIP : '0.0.0.0'}:${p.hostPort}->${p.containerPort}/${p.protocol}`).join(', ');
}

/** Every container's published ports (from the CNI cache), by container ID. */
export async function portsByContainer(ctx: CommandContext): Promise<Map<string, import('@berth/network').PortMapping[]>> {
  const out = new Map<string, import('@berth/network').PortMapping[]>();
  const { readdirOrEmpty } = await import('./containers.js');
  const { join } = await import('node:path');
  const dir = join(ctx.loc.root, 'cni', 'results');
  if (readdirOrEmpty(dir).length === 0) return out;
  const { listCachedAttachments } = await import('@berth/network');
  for (const e of await listCachedAttachments(dir)) {
    const pm = e.capabilityArgs?.['portMappings'];
    if (Array.isArray(pm) && pm.length > 0) out.set(e.containerId, [...(out.get(e.containerId) ?? []), ...(pm as import('@berth/network').PortMapping[])]);
  }
  return out;
}

/** docker's `NetworkSettings` of `container inspect` (the fields berth knows). */
export function dockerNetworkSettings(s: ContainerNetworkSettings): Record<string, unknown> {
  const ports: Record<string, Array<{ HostIp: string; HostPort: string }>> = {};
  for (const p of s.ports) (ports[`${p.containerPort}/${p.protocol}`] ??= []).push({ HostIp: p.hostIP ? p.hostIP : '0.0.0.0', HostPort: String(p.hostPort) });
  const networks: Record<string, unknown> = {};
  let sandboxKey = '';
  for (const [name, n] of Object.entries(s.networks)) {
    const [ip = '', prefix = '0'] = (n.addresses[0] ?? '').split('/');
    networks[name] = { IPAddress: ip, IPPrefixLen: Number(prefix), Gateway: n.gateway, MacAddress: n.macAddress, InterfaceName: n.ifName };
    sandboxKey = n.netns;
  }
  const first = Object.values(networks)[0] as { IPAddress?: string; Gateway?: string } | undefined;
  return { SandboxKey: sandboxKey, Ports: ports, IPAddress: first?.IPAddress ?? '', Gateway: first?.Gateway ?? '', Networks: networks };
}
