export { BerthError, isBerthError, describeError } from './errors.js';
export type { ErrorCode, BerthErrorOptions } from './errors.js';
export { Digest, VerifyingStream, HashingStream } from './digest.js';
export type { DigestAlgorithm, VerifyOptions } from './digest.js';
export {
  MediaType,
  MANIFEST_ACCEPT,
  isIndexMediaType,
  isManifestMediaType,
  isSchema1MediaType,
  isImageMediaType,
  contentTypeMediaType,
  detectMediaType,
  layerMediaInfo,
  ociLayerMediaType,
  detectLayerCompression,
} from './mediatypes.js';
export type { MediaTypeName, LayerCompression, LayerMediaInfo } from './mediatypes.js';
export {
  PlatformSchema,
  DescriptorSchema,
  ManifestSchema,
  IndexSchema,
  ImageConfigSchema,
  ContainerConfigSchema,
  HistorySchema,
  parseJson,
} from './schema.js';
export {
  MAX_MANIFEST_BYTES,
  MAX_CONFIG_BYTES,
  parseManifest,
  parseIndex,
  parseImageConfig,
  validateDescriptor,
  encodeJson,
  chainIds,
  chainId,
} from './validate.js';
export type { ValidationIssue } from './validate.js';
export type { Platform, Descriptor, Manifest, Index, ImageConfig, ContainerConfig, History, ParseOptions } from './schema.js';
export { Reference, DEFAULT_REGISTRY, DEFAULT_TAG, isValidTag } from './reference.js';
export {
  hostPlatform,
  parsePlatform,
  formatPlatform,
  normalisePlatform,
  platformMatches,
  availablePlatforms,
  configPlatform,
  selectPlatform,
  isUnknownPlatform,
} from './platform.js';
export { INDEX_DIGEST_ANNOTATION, REF_NAME_ANNOTATION, CONTAINERD_NAME_ANNOTATION } from './image.js';
export type { ImageSource, ImageSink, ResolvedManifest, BlobTarget, BlobReadOptions, BlobWriteResult } from './image.js';
