import { once } from 'node:events';
import { Readable } from 'node:stream';
import { Digest, MediaType } from '@berth/oci';
import type { Store } from '../index.js';
import { makeData } from './data.js';

/** A store with some of everything: blobs (put and ingested), a tag, a partial ingest, lock files. */
export async function populate(store: Store): Promise<void> {
  const layer = await store.putBlob(Readable.from([makeData('layer', 5000)]));
  const config = await store.putBlob(Buffer.from('{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}'));
  const data = makeData('ingested', 3000);
  const ing = await store.ingest({ digest: Digest.of(data), size: data.length });
  const w = ing.createWriteStream();
  w.end(data);
  await once(w, 'finish');
  await ing.commit();
  const partial = makeData('partial', 2000);
  const half = await store.ingest({ digest: Digest.of(partial), size: partial.length });
  const hw = half.createWriteStream();
  hw.end(partial.subarray(0, 1000));
  await once(hw, 'finish');
  await half.abort({ keepPartial: true });
  const manifest = await store.putBlob(
    Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: MediaType.OciManifest,
        config: { mediaType: MediaType.OciConfig, digest: config.digest.toString(), size: config.size },
        layers: [{ mediaType: MediaType.OciLayer, digest: layer.digest.toString(), size: layer.size }],
      }),
    ),
  );
  await store.setTag('localhost/private:1', { mediaType: MediaType.OciManifest, digest: manifest.digest.toString(), size: manifest.size });
  await store.withLock('demo', async () => undefined);
}
