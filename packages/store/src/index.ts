export { Store, DEFAULT_LOCK_TIMEOUT_MS, REF_NAME_ANNOTATION, INDEX_DIGEST_ANNOTATION, IMAGE_LAYOUT_VERSION } from './store.js';
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
export { writeFileAtomic } from './fsutil.js';
export { FileLock, withFileLock, lockHolders } from './lock.js';
export { securePrivateRoot, makeTreePrivate, PRIVATE_DIR_MODE, PRIVATE_FILE_MODE } from './perms.js';
export type { SecureRootOptions } from './perms.js';
export { tuneHeapForStreaming } from './malloc.js';
export type { TuneHeapOptions, HeapTuning } from './malloc.js';
export type { LockMode, LockFileOptions, AcquireOptions, StoppableAcquireOptions } from './lock.js';
