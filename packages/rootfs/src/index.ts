export { createRootfs } from './copy.js';
export type { CreateRootfsOptions, CreateRootfsResult } from './copy.js';
export { removeTree } from './remove.js';
