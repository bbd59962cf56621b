import { formatPlatform, hostPlatform, isBerthError, normalisePlatform, parsePlatform, platformMatches, Reference, type Platform } from '@berth/oci';
import type { StoredImage } from '@berth/store';
import type { CommandContext } from '../context.js';

/**
 * The image for `run`/`unpack`/`build`: from the store, or pulled first when it
 * is missing (or stored for another platform than the one asked), like docker.
 */
export async function ensureImage(ctx: CommandContext, ref: string, opts: { platform?: string; quiet?: boolean }): Promise<StoredImage> {
  const store = await ctx.store();
  const platform: Platform | undefined = opts.platform ? parsePlatform(opts.platform) : undefined;
  // The store would take '' for a missing name; Reference.parse says the reference is empty.
  if (ref === '') Reference.parse(ref);
  try {
    const image = await store.getImage(ref, platform ? { platform } : {});
    if (!platform || platformMatches(platform, imagePlatform(image))) return image;
  } catch (err) {
    if (!isBerthError(err, 'EIMAGE_UNKNOWN')) throw err;
  }
  const reference = Reference.parse(ref);
  if (!opts.quiet) ctx.stderr.write(`Unable to find image '${reference.familiar()}' locally\n`);
  const { pullWithProgress } = await import('./pull.js');
  const pulled = await pullWithProgress(ctx, reference, { ...(platform ? { platform } : {}), quiet: Boolean(opts.quiet) });
  return store.getImage(pulled.reference, platform ? { platform } : {});
}

function imagePlatform(image: StoredImage): Platform {
  const { os, architecture, variant } = image.config;
  return { os, architecture, ...(variant ? { variant } : {}) };
}

/**
 * docker's warning for `run` when no platform was asked for and the image is for another one
 * (its process will likely fail with "exec format error"), or undefined.
 */
export function platformMismatchWarning(image: StoredImage): string | undefined {
  const actual = imagePlatform(image);
  const host = hostPlatform();
  if (platformMatches(host, actual)) return undefined;
  return `WARNING: The requested image's platform (${formatPlatform(normalisePlatform(actual))}) does not match the detected host platform (${formatPlatform(host)}) and no specific platform was requested`;
}
