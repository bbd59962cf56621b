// One createRootfs in its own process (for bench/copy.mjs):  node bench/copy.one.mjs SNAPSHOT DEST
import { createRootfs } from '@berth/rootfs';

const [snapshot, dest] = process.argv.slice(2);
if (!snapshot || !dest) {
  console.error('usage: node bench/copy.one.mjs SNAPSHOT DEST');
  process.exit(2);
}
await createRootfs({ snapshot, dest });
