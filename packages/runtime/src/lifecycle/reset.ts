import { BerthError } from '@berth/oci';
import type { RuntimeContext } from './context.js';
import { describe, writeFileAtomic, readInitConfig } from './state.js';

/**
 * Gets a container ready for `start`: true when it is `created` (as `create` left it, or a
 * stopped one put back to `created`, keeping its id, rootfs, config and name, as docker's
 * `start` of an exited container does); false when it is running already. `etc` rewrites the
 * hosts and resolv.conf files the init bind-mounts (a network attached again). A container
 * being removed (`--rm`, stopped) cannot start again.
 */
export async function readyToStart(ctx: RuntimeContext, id: string, etc?: { hosts: string; resolvConf: string }): Promise<boolean> {
  const state = ctx.store.read(id);
  if (state === undefined) throw new BerthError('ECONTAINER_UNKNOWN', `start container ${id.slice(0, 12)}: no such container`, { details: { exitCode: 125 } });
  const info = describe(state);
  if (info.status === 'running') return false;
  if (info.status === 'stopped') {
    if (state.autoRemove) {
      throw new BerthError('ECONTAINER_STATE', `start container ${info.shortId}: it is being removed (--rm)`, { details: { exitCode: 125 } });
    }
    // The last run's cgroup (kept until the container is removed) goes; start makes a new one.
    await (await ctx.cgroups.open(id)).remove();
    ctx.store.update(id, (s) => {
      s.status = 'created';
      for (const k of ['pid', 'pidStartTime', 'exitCode', 'signal', 'oomKilled', 'oomKills', 'finishedAt', 'error', 'paused', 'monitorPid', 'monitorStartTime'] as const) delete s[k];
    });
  }
  if (etc !== undefined) {
    const files = readInitConfig(ctx, id).etcFiles;
    if (files !== null) {
      writeFileAtomic(files.hosts, etc.hosts);
      writeFileAtomic(files.resolvConf, etc.resolvConf);
    }
  }
  return true;
}
