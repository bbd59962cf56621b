export { copyImage, MemoryTarget, DEFAULT_COPY_CONCURRENCY } from './copy.js';
export type { CopyImageOptions, CopyImageResult, CopyProgressEvent } from './copy.js';
export { runBounded, linkedController } from './limit.js';
export type { ImageSource, ImageSink, ResolvedManifest, BlobTarget, BlobReadOptions, BlobWriteResult } from '@berth/oci';
export { INDEX_DIGEST_ANNOTATION } from '@berth/oci';
export { storeSink, storeSource, describeStored } from './store.js';
export type { ContentStore, StoreIngest } from './store.js';
