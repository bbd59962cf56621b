export { main, program } from './main.js';
export { Context } from './context.js';
export { locations } from './env.js';
export type { Locations } from './env.js';
export { TransferProgress } from './progress.js';
export type { TransferEvent } from './progress.js';
