import { BerthError, Reference } from '@berth/oci';
import type { CommandContext } from '../context.js';

/** `berth tag SRC DST`: a new name for an image already in the store. */
export async function tag(ctx: CommandContext, source: string, target: string): Promise<number> {
  const store = await ctx.store();
  const image = await store.getImage(source);
  const dst = Reference.parse(target);
  if (dst.digest) throw new BerthError('EINVAL_REFERENCE', `tag ${target}: a tag cannot contain a digest`);
  await store.setTag(dst, image.descriptor);
  return 0;
}
