export { applyLayer, IGNORED_XATTRS } from './apply.js';
export type { ApplyLayerOptions, ApplyLayerResult } from './apply.js';
export { createLayer } from './create.js';
export type { CreateLayerOptions, CreateLayerResult } from './create.js';
export { compressStream, decompressStream } from './compression.js';
export type { CompressOptions } from './compression.js';
export { DEFAULT_LAYER_LIMITS } from './limits.js';
export type { LayerLimits } from './limits.js';
