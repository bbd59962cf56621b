import type { Context } from '../context.js';
import { writeJson } from '../output.js';

/** `berth inspect REF…`: manifest and config as JSON, one array entry per image (like docker). */
export async function inspect(ctx: Context, refs: string[]): Promise<number> {
  const store = await ctx.store();
  const out: unknown[] = [];
  for (const ref of refs) {
    const image = await store.getImage(ref);
    out.push({
      Reference: image.reference?.toString(),
      Digest: image.descriptor.digest,
      MediaType: image.descriptor.mediaType,
      Platform: image.descriptor.platform,
      Size: image.descriptor.size,
      Manifest: image.manifest,
      Config: image.config,
    });
  }
  writeJson(out);
  return 0;
}
