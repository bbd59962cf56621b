export {
  insideRoot,
  MAX_SYMLINKS,
  nodeRootFs,
  resolveInRoot,
  type CreateOptions,
  type ExistingDirectoryOptions,
  type LexicalOptions,
  type NodeKind,
  type ResolveInRootOptions,
  type RootFs,
} from './resolve.js';
