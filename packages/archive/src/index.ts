// save/load/openArchive pull in tar-stream, zlib and (Docker archives) zod: they are imported
// when first called, so `import '@berth/archive'` loads neither tar-stream nor zod.
import type { Readable } from 'node:stream';
import type { LoadedImage, LoadImagesOptions } from './load.js';
import type { OpenedArchive } from './open.js';
import type { SaveImagesOptions, SaveImagesResult } from './save.js';

export type { LoadedImage, LoadImagesOptions } from './load.js';
export type { SaveImagesOptions, SaveImagesResult, ImageFinder } from './save.js';
export type { OpenedArchive } from './open.js';
export type { ArchiveSource, ArchiveImage } from './source.js';
export type { ArchiveFormat, ArchiveSink, ArchiveSinkOptions } from './sink.js';

/** See save.ts: images from the store into a docker-archive, an oci-archive or an OCI layout directory. */
export async function saveImages(opts: SaveImagesOptions): Promise<SaveImagesResult> {
  return (await import('./save.js')).saveImages(opts);
}

/** See load.ts: Docker archives, OCI archives and OCI layout directories into the store. */
export async function loadImages(opts: LoadImagesOptions): Promise<LoadedImage[]> {
  return (await import('./load.js')).loadImages(opts);
}

/** See open.ts: an archive file, stream or layout directory as an ImageSource listing its images. */
export async function openArchive(input: string | Readable): Promise<OpenedArchive> {
  return (await import('./open.js')).openArchive(input);
}

// Sources and sinks for @berth/image's copyImage: the OCI layout directory, and tar archives.
export { layoutSource, layoutSink } from './layout.js';
export { archiveSink } from './sink.js';
