// `berth unpack` as a script over the built packages, for when the CLI is not built:
//   node bench/unpack.berth.mjs BERTH_ROOT REF DIR
import { join } from 'node:path';
import { Snapshots, unpackImage } from '@berth/rootfs';
import { Store } from '@berth/store';

const [root, ref, dest] = process.argv.slice(2);
if (!root || !ref || !dest) {
  console.error('usage: node bench/unpack.berth.mjs BERTH_ROOT REF DIR');
  process.exit(2);
}
const store = await Store.open({ root: join(root, 'store') });
const snapshots = new Snapshots({ root: join(root, 'snapshots'), store });
const image = await store.getImage(ref);
await unpackImage({ store, snapshots, image, dest });
