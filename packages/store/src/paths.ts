import { homedir } from 'node:os';
import path from 'node:path';

/**
 * The berth data root: `$BERTH_ROOT` if set, else `/var/lib/berth` for root,
 * else `$XDG_DATA_HOME/berth` (when absolute) or `~/.local/share/berth`.
 * Always an absolute path. `env` and `uid` default to this process's.
 */
export function defaultRoot(env: NodeJS.ProcessEnv = process.env, uid: number | undefined = process.getuid?.()): string {
  const explicit = env['BERTH_ROOT'];
  if (explicit) return path.resolve(explicit);
  if (uid === 0) return '/var/lib/berth';
  const xdg = env['XDG_DATA_HOME'];
  // The XDG spec says relative values are invalid and must be ignored.
  if (xdg && path.isAbsolute(xdg)) return path.join(xdg, 'berth');
  return path.join(homedir(), '.local', 'share', 'berth');
}

/** The content store (an OCI image layout) inside a berth root: `${root}/store`. */
export function storeDir(root: string): string {
  return path.join(path.resolve(root), 'store');
}
