import { lstat, readdir } from 'node:fs/promises';
import { join } from 'node:path';

/** Bytes a directory tree takes (allocated blocks), without following symlinks; 0 when absent. */
export async function treeBytes(dir: string): Promise<number> {
  let total = 0;
  const walk = async (p: string): Promise<void> => {
    const st = await lstat(p).catch(() => undefined);
    if (!st) return;
    total += st.blocks * 512;
    if (st.isDirectory()) for (const name of await readdir(p).catch(() => [])) await walk(join(p, name));
  };
  await walk(dir);
  return total;
}
