export { Store, REF_NAME_ANNOTATION, INDEX_DIGEST_ANNOTATION, IMAGE_LAYOUT_VERSION } from './store.js';
export type {
  StoreOptions,
  PutBlobOptions,
  IngestOptions,
  ReadBlobOptions,
  GetImageOptions,
  StoredImage,
  GcOptions,
  GcResult,
  TagEntry,
} from './store.js';
export type { BlobIngest } from './ingest.js';
export { defaultRoot, storeDir } from './paths.js';
export { FileLock, withFileLock } from './lock.js';
export { tuneHeapForStreaming } from './malloc.js';
export type { TuneHeapOptions, HeapTuning } from './malloc.js';
export type { LockMode, LockFileOptions, AcquireOptions, StoppableAcquireOptions } from './lock.js';
