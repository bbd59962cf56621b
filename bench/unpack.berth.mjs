// `berth unpack` as a script over the built packages, for when the CLI is not built:
//   node bench/unpack.berth.mjs BERTH_ROOT REF DIR
// and the image's snapshot built (as `berth run` builds it), for the "snapshot built" column:
//   node bench/unpack.berth.mjs --ensure BERTH_ROOT REF
import { join } from 'node:path';
import { Snapshots, unpackImage } from '@berth/rootfs';
import { Store } from '@berth/store';

const argv = process.argv.slice(2);
const ensure = argv[0] === '--ensure';
const [root, ref, dest] = ensure ? argv.slice(1) : argv;
if (!root || !ref || (!ensure && !dest)) {
  console.error('usage: node bench/unpack.berth.mjs BERTH_ROOT REF DIR | --ensure BERTH_ROOT REF');
  process.exit(2);
}
const store = await Store.open({ root: join(root, 'store') });
const snapshots = new Snapshots({ root: join(root, 'snapshots'), store });
const image = await store.getImage(ref);
if (ensure) await snapshots.ensure({ image });
else await unpackImage({ store, snapshots, image, dest });
