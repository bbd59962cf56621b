export { createRootfs } from './copy.js';
export type { CreateRootfsOptions, CreateRootfsResult } from './copy.js';
export { removeTree, removeTreeSync } from './remove.js';
export { Snapshots, imageChainId } from './snapshots.js';
export type {
  SnapshotsOptions,
  SnapshotProgress,
  EnsureOptions,
  EnsureResult,
  SnapshotsGcOptions,
  SnapshotsGcResult,
} from './snapshots.js';
export { unpackImage } from './unpack.js';
export type { UnpackImageOptions, UnpackImageResult } from './unpack.js';
