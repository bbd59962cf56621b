export { applyLayer, IGNORED_XATTR_PREFIXES, IGNORED_XATTRS, isIgnoredXattr } from './apply.js';
export type { ApplyLayerOptions, ApplyLayerResult } from './apply.js';
export { createLayer, diffTrees } from './create.js';
export type { CreateLayerOptions, CreateLayerResult, TreeChange } from './create.js';
export { compressStream, decompressStream } from './compression.js';
export type { CompressOptions } from './compression.js';
export { DEFAULT_LAYER_LIMITS } from './limits.js';
export type { LayerLimits } from './limits.js';
// The file-system primitives live in @berth/sys; re-exported here for the callers that took them from layers.
export {
  devMajor,
  devMinor,
  FS_APPEND_FL,
  FS_IMMUTABLE_FL,
  fsetxattr,
  futimens,
  getInodeFlags,
  ioctlBuffer,
  lgetxattr,
  llistxattr,
  lremovexattr,
  lsetxattr,
  lstatx,
  lutimens,
  lutimensRaw,
  makedev,
  mknod,
  S_IFBLK,
  S_IFCHR,
  S_IFIFO,
  S_IFSOCK,
  setInodeFlags,
  STX,
  timesFromStatx,
} from '@berth/sys';
/** SysError here is @berth/sys's ErrnoError (Node-style `code`), the error these primitives throw. */
export type { ErrnoError as SysError, SysPath, Timespec } from '@berth/sys';
