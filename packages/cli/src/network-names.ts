import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { CommandContext } from './context.js';

/**
 * The fallback when aardvark-dns is not installed (with it, the network's resolver serves the
 * names: @berth/network resolver.ts). Names between containers on a user-defined network,
 * through /etc/hosts: a container joining a network gets a line for each running peer on it (the peer's
 * address there, with the names of the peer's own line: hostname, --name, aliases), and each
 * running peer's hosts file gets the newcomer's line; its lines are taken out again when it
 * leaves. A container's hosts file is `$BERTH_STATE/<id>/hosts`, bind-mounted over its
 * /etc/hosts, so a rewrite in place (same inode) is seen inside at once. The default `bridge`
 * gives no names, as docker's. Limits: a container swept after a crash leaves its line in its
 * peers' files until they stop; names are not refreshed when a container changes networks by
 * `connect`.
 */

interface Peer {
  id: string;
  address: string;
  /** The file bind-mounted as its /etc/hosts. */
  hostsFile: string;
}

function hostsFile(ctx: CommandContext, id: string): string {
  return join(ctx.loc.state, id, 'hosts');
}

function readOr(file: string): string | undefined {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
}

/** The running containers (other than `self`) attached to `network`, with their address on it. */
async function peersOn(ctx: CommandContext, network: string, self: string, running: ReadonlySet<string>): Promise<Peer[]> {
  const { cniCacheDir, containerAddresses, listCachedAttachments } = await import('@berth/network');
  const out: Peer[] = [];
  for (const a of await listCachedAttachments(cniCacheDir(ctx.loc.root))) {
    if (a.networkName !== network || a.containerId === self || a.result === undefined || !running.has(a.containerId)) continue;
    const address = containerAddresses(a.result)[0]?.split('/')[0];
    if (address !== undefined) out.push({ id: a.containerId, address, hostsFile: hostsFile(ctx, a.containerId) });
  }
  return out;
}

/** The line of `address` in a hosts text (the first whose address matches). */
function lineOf(text: string, address: string): string | undefined {
  return text.split('\n').find((l) => l.split(/\s+/)[0] === address);
}

/**
 * Adds the peers' lines to the joining container's hosts text (returned) and its own line to
 * the running peers' files. `ownLine` is `ADDRESS\tNAMES` of the newcomer on this network.
 */
export async function publishNames(
  ctx: CommandContext,
  o: { network: string; containerId: string; address: string; hosts: string; running: ReadonlySet<string> },
): Promise<string> {
  if (o.network === 'bridge') return o.hosts;
  const own = lineOf(o.hosts, o.address);
  let hosts = o.hosts;
  for (const p of await peersOn(ctx, o.network, o.containerId, o.running)) {
    const text = readOr(p.hostsFile);
    if (text === undefined) continue;
    const theirs = lineOf(text, p.address);
    if (theirs !== undefined && lineOf(hosts, p.address) === undefined) hosts += `${theirs}\n`;
    if (own !== undefined && lineOf(text, o.address) === undefined) writeFileSync(p.hostsFile, `${text.replace(/\n?$/, '\n')}${own}\n`);
  }
  return hosts;
}

/** Takes `address` (a container leaving `network`) out of the running peers' hosts files. */
export async function withdrawNames(ctx: CommandContext, o: { network: string; containerId: string; address: string; running: ReadonlySet<string> }): Promise<void> {
  if (o.network === 'bridge') return;
  for (const p of await peersOn(ctx, o.network, o.containerId, o.running)) {
    const text = readOr(p.hostsFile);
    if (text === undefined || lineOf(text, o.address) === undefined) continue;
    writeFileSync(
      p.hostsFile,
      text
        .split('\n')
        .filter((l) => l.split(/\s+/)[0] !== o.address)
        .join('\n'),
    );
  }
}
