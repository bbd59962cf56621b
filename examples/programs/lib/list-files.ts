/**
 * Pull an image and list its files: registry → store → snapshot (layers
 * applied once, whiteouts honoured) → a walk of the resulting tree.
 *
 *   The program that runs it: examples/programs/list-files.ts
 *
 * Uses $BERTH_ROOT (default /var/lib/berth as root) and the registry config
 * (BERTH_CONFIG / /etc/berth/config.yaml: mirrors, insecure hosts).
 */
import { lstat, readdir, readlink } from 'node:fs/promises';
import path from 'node:path';
import { Reference } from '@berth/oci';
import { RegistryClient, loadRegistryConfig, pullImage } from '@berth/registry';
import { Snapshots } from '@berth/rootfs';
import { Store, defaultRoot, storeDir } from '@berth/store';

export interface FileEntry {
  /** Absolute path in the image, e.g. `/bin/busybox`. */
  path: string;
  type: 'file' | 'dir' | 'symlink' | 'other';
  mode: number;
  size: number;
  target?: string;
}

export interface ListFilesOptions {
  reference: string;
  /** BERTH_ROOT to use (store + snapshots); default defaultRoot(). */
  root?: string;
  /** Registry config; default loadRegistryConfig(). */
  config?: Awaited<ReturnType<typeof loadRegistryConfig>>;
}

export async function listImageFiles(opts: ListFilesOptions): Promise<FileEntry[]> {
  const root = opts.root ?? defaultRoot();
  const store = await Store.open({ root: storeDir(root) });
  const snapshots = new Snapshots({ root: path.join(root, 'snapshots'), store });
  const reference = Reference.parse(opts.reference);
  const client = new RegistryClient({ config: opts.config ?? (await loadRegistryConfig()) });
  await pullImage({ client, store, reference });
  const image = await store.getImage(reference);
  const { path: tree } = await snapshots.ensure({ image });
  const out: FileEntry[] = [];
  const walk = async (dir: string, rel: string): Promise<void> => {
    for (const name of (await readdir(dir)).sort()) {
      const host = path.join(dir, name);
      const st = await lstat(host);
      const entry: FileEntry = {
        path: `${rel}/${name}`,
        type: st.isFile() ? 'file' : st.isDirectory() ? 'dir' : st.isSymbolicLink() ? 'symlink' : 'other',
        mode: st.mode & 0o7777,
        size: st.isFile() ? st.size : 0,
      };
      if (st.isSymbolicLink()) entry.target = await readlink(host);
      out.push(entry);
      if (st.isDirectory()) await walk(host, entry.path);
    }
  };
  await walk(tree, '');
  return out;
}

