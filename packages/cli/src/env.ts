import { homedir } from 'node:os';
import { join } from 'node:path';

/** Where berth keeps things: the same names in every command (see ARCHITECTURE.md). */
export interface Locations {
  /** BERTH_ROOT: store and snapshots. */
  root: string;
  /**
   * BERTH_STATE: container runtime state. Default `/run/berth` as root, else `$XDG_RUNTIME_DIR/berth`
   * (`$XDG_DATA_HOME/berth-run/berth` without it). The runtime's own default (`/run/berth` for
   * anyone) does not apply: commands always pass this to `Runtime`.
   */
  state: string;
  /** BERTH_CONFIG, when set explicitly. */
  config: string | undefined;
}

export function locations(env: NodeJS.ProcessEnv = process.env): Locations {
  const isRoot = process.getuid?.() === 0;
  const xdgData = env['XDG_DATA_HOME'] || join(homedir(), '.local', 'share');
  const xdgRuntime = env['XDG_RUNTIME_DIR'] || join(xdgData, 'berth-run');
  return {
    root: env['BERTH_ROOT'] || (isRoot ? '/var/lib/berth' : join(xdgData, 'berth')),
    state: env['BERTH_STATE'] || (isRoot ? '/run/berth' : join(xdgRuntime, 'berth')),
    config: env['BERTH_CONFIG'] || undefined,
  };
}
