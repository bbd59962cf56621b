import type { Digest } from '@berth/oci';
import { blobFile as layoutBlobFile } from '../blobs.js';
import { storeLayout } from '../layout.js';

/**
 * The file of a blob in a store's OCI layout (`blobs/<alg>/<hex>`), digest validated
 * (EINVAL_DIGEST): for tests that look at or damage the files on disk. The store
 * itself hands no paths out.
 */
export function blobFile(store: { root: string }, digest: Digest | string): string {
  return layoutBlobFile(storeLayout(store.root), digest);
}
