/**
 * Removes the build trees (`<root>/build-<pid>-<n>`) of builds whose process is gone,
 * unmounting what they left mounted; with `own`, this process's as well. The workspace
 * module (and @berth/rootfs with it) is loaded only when there is something to remove, so
 * a fully cached build and `berth ps` stay lean.
 */
export async function sweepBuildTrees(root: string, opts: { own?: boolean } = {}): Promise<string[]> {
  const { readdir } = await import('node:fs/promises');
  const names = await readdir(root).catch(() => [] as string[]);
  const stale = names.some((name) => {
    const m = /^build-(\d+)-\d+$/.exec(name);
    if (!m) return false;
    const pid = Number(m[1]);
    return pid === process.pid ? opts.own === true : !processExists(pid);
  });
  if (!stale) return [];
  const ws = await import('./workspace.js');
  return ws.sweepBuildTrees(root, opts);
}

export function processExists(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
