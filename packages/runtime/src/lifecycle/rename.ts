import { BerthError } from '@berth/oci';
import type { RuntimeContext } from './context.js';
import { checkName, describe } from './state.js';
import type { ContainerInfo } from './state.js';

/**
 * `rename`: the new name is reserved first (names are unique: a name in use is refused), then
 * recorded in the state, then the old reservation released. Any state, as docker's.
 */
export function renameContainer(ctx: RuntimeContext, id: string, newName: string): ContainerInfo {
  const state = ctx.store.read(id);
  if (state === undefined) throw new BerthError('ECONTAINER_UNKNOWN', `rename container ${id.slice(0, 12)}: no such container`);
  checkName(newName);
  if (newName === state.name) {
    throw new BerthError('EINVAL_ARGUMENT', `rename container ${id.slice(0, 12)}: "${newName}" is already its name`);
  }
  try {
    ctx.store.reserveName(newName, id);
  } catch (err) {
    if (err instanceof BerthError && err.code === 'EIN_USE') {
      throw new BerthError('EIN_USE', `rename container ${id.slice(0, 12)}: ${err.message.replace(/^create container: /, '')}`, { details: err.details });
    }
    throw err;
  }
  const updated = ctx.store.update(id, (s) => (s.name = newName));
  if (updated === undefined) {
    ctx.store.releaseName(newName, id);
    throw new BerthError('ECONTAINER_UNKNOWN', `rename container ${id.slice(0, 12)}: removed meanwhile`);
  }
  ctx.store.releaseName(state.name, id);
  return describe(updated);
}
