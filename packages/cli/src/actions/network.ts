import { BerthError } from '@berth/oci';
import type { CommandContext } from '../context.js';
import { sweep } from '../containers.js';
import { networkStore } from '../network.js';
import { eachName, inspectEach, parseFormat, table, writeJson } from '../output.js';

function rootOnly(what: string): void {
  if (process.getuid?.() !== 0) throw new BerthError('ENOT_ROOT', `${what}: networks need root (bridges, iptables and namespaces)`);
}

/** Sweeps dead containers (and their attachments) first, so what is listed as attached is live. */
async function swept(ctx: CommandContext): Promise<void> {
  const { Runtime } = await import('@berth/runtime');
  await sweep(ctx, new Runtime({ stateDir: ctx.loc.state }));
}

/** The containers attached to each network, from the CNI cache: name → container IDs. */
async function attachedIds(ctx: CommandContext): Promise<Map<string, Set<string>>> {
  const { cniCacheDir, listCachedAttachments } = await import('@berth/network');
  const out = new Map<string, Set<string>>();
  for (const a of await listCachedAttachments(cniCacheDir(ctx.loc.root))) {
    if (a.ifName === 'lo') continue;
    let s = out.get(a.networkName);
    if (!s) out.set(a.networkName, (s = new Set()));
    s.add(a.containerId);
  }
  return out;
}

export async function networkCreate(ctx: CommandContext, name: string, opts: { subnet?: string; gateway?: string; internal?: boolean; driver?: string }): Promise<number> {
  rootOnly('network create');
  if (opts.driver !== undefined && opts.driver !== 'bridge') throw new BerthError('EINVAL_ARGUMENT', `invalid --driver ${JSON.stringify(opts.driver)}: berth has the bridge driver only`);
  const store = await networkStore(ctx);
  await store.ensureDefault();
  const def = await store.create({
    name,
    ...(opts.subnet !== undefined ? { subnet: opts.subnet } : {}),
    ...(opts.gateway !== undefined ? { gateway: opts.gateway } : {}),
    ...(opts.internal ? { internal: true } : {}),
  });
  ctx.stdout.write(`${def.id}\n`);
  return 0;
}

export async function networkLs(ctx: CommandContext, opts: { quiet?: boolean; format?: string }): Promise<number> {
  const format = parseFormat(opts.format);
  rootOnly('network ls');
  const store = await networkStore(ctx);
  await store.ensureDefault();
  const defs = await store.list();
  if (format === 'json') writeJson(ctx.stdout, defs);
  else if (opts.quiet) ctx.stdout.write(defs.map((d) => `${d.name}\n`).join(''));
  else ctx.stdout.write(table(['NETWORK ID', 'NAME', 'DRIVER', 'SUBNET', 'INTERNAL'], defs.map((d) => [d.id.slice(0, 12), d.name, d.driver, d.subnet, d.internal ? 'true' : 'false'])));
  return 0;
}

export async function networkInspect(ctx: CommandContext, names: string[]): Promise<number> {
  rootOnly('network inspect');
  await swept(ctx);
  const store = await networkStore(ctx);
  await store.ensureDefault();
  const attached = await attachedIds(ctx);
  return inspectEach(ctx, names, async (name) => {
    const def = await store.inspect(name);
    return { ...def, containers: [...(attached.get(def.name) ?? [])] };
  });
}

export async function networkRm(ctx: CommandContext, names: string[]): Promise<number> {
  rootOnly('network rm');
  await swept(ctx);
  const store = await networkStore(ctx);
  return eachName(ctx, names, async (name) => {
    await store.remove(name);
  });
}

/** The running container `idOrName`, with the namespace berth's network setup made for it. */
async function attachedContainer(ctx: CommandContext, what: string, idOrName: string): Promise<{ id: string; name: string; netns: string }> {
  const { Runtime } = await import('@berth/runtime');
  const c = await new Runtime({ stateDir: ctx.loc.state }).inspect(idOrName);
  if (c.status !== 'running') throw new BerthError('ECONTAINER_STATE', `${what}: container ${idOrName} is not running`);
  const { isNetnsMounted, netnsPath } = await import('@berth/network');
  const netns = netnsPath(ctx.loc.state, c.id);
  if (!(await isNetnsMounted(netns))) {
    throw new BerthError('EINVAL_ARGUMENT', `${what}: container ${idOrName} has no network of berth's (--network none, host or container:)`);
  }
  return { id: c.id, name: c.name, netns };
}

/**
 * `berth network connect [--alias A] [--ip IP] NETWORK CONTAINER`: CNI ADD on the container's
 * next free ethN, then its name, aliases and short ID in the network's resolver (user networks).
 */
export async function networkConnect(ctx: CommandContext, network: string, container: string, opts: { alias?: string[]; ip?: string } = {}): Promise<number> {
  rootOnly('network connect');
  const what = `connect ${container} to network ${network}`;
  const store = await networkStore(ctx);
  const def = await store.inspect(network);
  const c = await attachedContainer(ctx, what, container);
  const { addNetwork, cniCacheDir, listCachedAttachments } = await import('@berth/network');
  const cacheDir = cniCacheDir(ctx.loc.root);
  const mine = await listCachedAttachments(cacheDir, c.id);
  if (mine.some((a) => a.networkName === def.name)) throw new BerthError('ENETWORK_CONFLICT', `${what}: already connected`);
  const used = new Set(mine.map((a) => a.ifName));
  let n = 0;
  while (used.has(`eth${n}`)) n++;
  const net = await import('@berth/network');
  const caps = await net.attachmentCapabilities(store, def, opts.ip !== undefined ? { ip: opts.ip } : undefined, what);
  const ifName = `eth${n}`;
  const result = await addNetwork(store.confList(def), { containerId: c.id, netns: c.netns, ifName, ...(Object.keys(caps).length > 0 ? { capabilityArgs: caps } : {}) }, { cacheDir });
  if (def.name !== net.DEFAULT_NETWORK && net.findAardvark() !== undefined) {
    const ipv4 = net.containerAddresses(result).map((a) => a.split('/')[0] as string);
    try {
      await net.addResolverEntry({ state: ctx.loc.state, network: def.name, gateway: def.gateway }, { containerId: c.id, ipv4, names: [c.name, ...(opts.alias ?? []), c.id.slice(0, 12)] });
    } catch (err) {
      await net.delNetwork({ networkName: def.name, containerId: c.id, ifName, netns: c.netns }, { cacheDir }).catch(() => undefined);
      throw err;
    }
  }
  return 0;
}

/** `berth network disconnect NETWORK CONTAINER`: CNI DEL of that attachment, from the cache. */
export async function networkDisconnect(ctx: CommandContext, network: string, container: string): Promise<number> {
  rootOnly('network disconnect');
  const what = `disconnect ${container} from network ${network}`;
  const c = await attachedContainer(ctx, what, container);
  const { cniCacheDir, delNetwork, listCachedAttachments } = await import('@berth/network');
  const cacheDir = cniCacheDir(ctx.loc.root);
  const att = (await listCachedAttachments(cacheDir, c.id)).find((a) => a.networkName === network && a.ifName !== 'lo');
  if (att === undefined) throw new BerthError('ENOT_FOUND', `${what}: not connected`);
  const { removeResolverEntries } = await import('@berth/network');
  await removeResolverEntries({ state: ctx.loc.state, containerId: c.id, networks: [att.networkName] });
  await delNetwork({ networkName: att.networkName, containerId: c.id, ifName: att.ifName, netns: c.netns }, { cacheDir });
  return 0;
}

/** `berth network prune`: the sweep (CNI DEL of containers no longer running), then every user network nothing is attached to. */
export async function networkPrune(ctx: CommandContext, opts: { force?: boolean }): Promise<number> {
  rootOnly('network prune');
  const { confirm } = await import('./prune.js');
  if (!opts.force && !(await confirm(ctx, 'WARNING! This will remove all custom networks not used by at least one container.'))) return 0;
  await swept(ctx);
  const store = await networkStore(ctx);
  const attached = await attachedIds(ctx);
  const removed: string[] = [];
  for (const def of await store.list()) {
    if (def.name === 'bridge' || (attached.get(def.name)?.size ?? 0) > 0) continue;
    await store.remove(def.name);
    removed.push(def.name);
  }
  if (removed.length > 0) ctx.stdout.write(`Deleted Networks:\n${removed.map((n) => `${n}\n`).join('')}`);
  return 0;
}
