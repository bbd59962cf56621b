import type { Context } from './context.js';

export interface ImageUse {
  /** Container ID. */
  id: string;
  /** Manifest digest of the image the container was made from. */
  digest: string;
}

/** Images used by containers (any state): roots for garbage collection. */
export async function usedImages(ctx: Context): Promise<ImageUse[]> {
  const { Runtime } = await import('@berth/runtime');
  const runtime = new Runtime({ stateDir: ctx.loc.state });
  const out: ImageUse[] = [];
  for (const c of await runtime.list()) {
    if (c.image?.digest) out.push({ id: c.id, digest: c.image.digest });
  }
  return out;
}
