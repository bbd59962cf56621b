import type { RuntimeContext } from './context.js';
import { byCreatedAt, describe } from './state.js';
import type { ContainerInfo } from './state.js';

/** `list`: every container under the state root, oldest first, with live status. */
export function listContainers(ctx: Pick<RuntimeContext, 'store'>): ContainerInfo[] {
  const out: ContainerInfo[] = [];
  for (const id of ctx.store.ids()) {
    const s = ctx.store.read(id);
    // A directory without state.json is a create in progress (or a crash mid-create): skip it.
    if (s !== undefined) out.push(describe(s));
  }
  return out.sort(byCreatedAt);
}
