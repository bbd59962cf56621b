import type { CommandContext } from '../context.js';
import { inspectEach } from '../output.js';

/** `berth inspect REF…`: manifest and config as JSON, one array entry per image (like docker). */
export async function inspect(ctx: CommandContext, refs: string[], opts: { format?: string } = {}): Promise<number> {
  const store = await ctx.store();
  return inspectEach(ctx, refs, async (ref) => {
    const image = await store.getImage(ref);
    return {
      Id: image.descriptor.digest,
      Reference: image.reference?.toString(),
      Digest: image.descriptor.digest,
      MediaType: image.descriptor.mediaType,
      Platform: image.descriptor.platform,
      Size: image.descriptor.size,
      Manifest: image.manifest,
      Config: image.config,
    };
  }, opts);
}
