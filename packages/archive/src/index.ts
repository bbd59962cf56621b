// save/load pull in tar-stream, zlib and (load) zod; keep them out of `import '@berth/archive'` until used.
import type { LoadedImage, LoadImagesOptions } from './load.js';
import type { SaveImagesOptions, SaveImagesResult } from './save.js';

export type { LoadedImage, LoadImagesOptions } from './load.js';
export type { SaveImagesOptions, SaveImagesResult } from './save.js';

/** See save.ts: one tar readable as a Docker archive and as an OCI layout. */
export async function saveImages(opts: SaveImagesOptions): Promise<SaveImagesResult> {
  return (await import('./save.js')).saveImages(opts);
}

/** See load.ts: Docker archives, OCI archives and OCI layout directories into the store. */
export async function loadImages(opts: LoadImagesOptions): Promise<LoadedImage[]> {
  return (await import('./load.js')).loadImages(opts);
}

// The OCI layout directory as an ImageSource and an ImageSink for @berth/image's copyImage.
export { layoutSource, layoutSink } from './layout.js';
