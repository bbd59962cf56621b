import { isBerthError, parsePlatform, platformMatches, Reference, type Platform } from '@berth/oci';
import type { StoredImage } from '@berth/store';
import type { Context } from '../context.js';

/**
 * The image for `run`/`unpack`/`build`: from the store, or pulled first when it
 * is missing (or stored for another platform than the one asked), like docker.
 */
export async function ensureImage(ctx: Context, ref: string, opts: { platform?: string; quiet?: boolean }): Promise<StoredImage> {
  const store = await ctx.store();
  const platform: Platform | undefined = opts.platform ? parsePlatform(opts.platform) : undefined;
  try {
    const image = await store.getImage(ref, platform ? { platform } : {});
    const actual = { os: image.config.os, architecture: image.config.architecture, ...(image.config.variant ? { variant: image.config.variant } : {}) };
    if (!platform || platformMatches(platform, actual)) return image;
  } catch (err) {
    if (!isBerthError(err, 'EIMAGE_UNKNOWN')) throw err;
  }
  const reference = Reference.parse(ref);
  if (!opts.quiet) ctx.stderr.write(`Unable to find image '${reference.familiar()}' locally\n`);
  const { pullWithProgress } = await import('./pull.js');
  const pulled = await pullWithProgress(ctx, reference, { ...(platform ? { platform } : {}), quiet: Boolean(opts.quiet) });
  return store.getImage(pulled.reference, platform ? { platform } : {});
}
