import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { CommandContext } from './context.js';
import { attachNetwork, type NetworkPlan } from './network.js';

/** What a container's network was made from, kept in its state directory so that `start` of a stopped container attaches it again. */
interface SavedNetwork {
  plan: NetworkPlan;
  name?: string;
  hostname: string;
  exposedPorts?: Record<string, unknown>;
}

const FILE = 'cli-network.json';

/** Records a bridge or user network's plan for a container that may start again (`run -d`, `create`). */
export function saveNetworkPlan(ctx: CommandContext, id: string, saved: SavedNetwork): void {
  if (saved.plan.choice.kind !== 'network') return;
  try {
    writeFileSync(join(ctx.loc.state, id, FILE), JSON.stringify(saved), { mode: 0o600 });
  } catch {
    // Gone already (--rm): it will not start again.
  }
}

/**
 * Before a stopped container starts again: its network (released when it stopped, as docker
 * releases addresses and ports) attached again, same namespace path; resolves with the hosts
 * and resolv.conf the setup wrote (for the runtime to put in place), or undefined when it
 * has no network of its own or is not stopped.
 */
export async function reattachNetwork(
  ctx: CommandContext,
  runtime: { inspect(id: string): Promise<import('@berth/runtime').ContainerInfo>; list(): Promise<import('@berth/runtime').ContainerInfo[]> },
  idOrName: string,
): Promise<{ hosts: string; resolvConf: string } | undefined> {
  const info = await runtime.inspect(idOrName);
  if (info.status !== 'stopped') return undefined;
  let saved: SavedNetwork;
  try {
    saved = JSON.parse(readFileSync(join(ctx.loc.state, info.id, FILE), 'utf8')) as SavedNetwork;
  } catch {
    return undefined;
  }
  const spec: { hostname: string; netns?: string; etc?: { hosts: string; resolvConf: string } } = { hostname: saved.hostname };
  await attachNetwork(ctx, {
    plan: saved.plan,
    containerId: info.id,
    ...(saved.name !== undefined ? { name: saved.name } : {}),
    spec,
    ...(saved.exposedPorts !== undefined ? { exposedPorts: saved.exposedPorts } : {}),
    inspect: (c) => runtime.inspect(c),
    list: () => runtime.list(),
  });
  return spec.etc;
}
