import type { CommandContext } from '../context.js';
import { platformFlag } from '../output.js';
import { ensureImage } from './ensure-image.js';

/** `berth unpack [--platform P] REF DIR`: the image's root filesystem in DIR (pulled first if missing). */
export async function unpack(ctx: CommandContext, ref: string, dir: string, opts: { platform?: string; quiet?: boolean }): Promise<number> {
  platformFlag(opts.platform); // a malformed value is a usage error before anything is looked up
  // A short-lived process that streams a layer through zlib: keep freed buffers in the heap and
  // fault it in by huge pages (see tuneHeapForStreaming). alpine: page faults 7 800 -> 4 700.
  (await import('@berth/store')).tuneHeapForStreaming();
  const image = await ensureImage(ctx, ref, opts);
  const [{ Snapshots, unpackImage }, store] = await Promise.all([import('@berth/rootfs'), ctx.store()]);
  const snapshots = new Snapshots({ root: ctx.snapshotsDir, store });
  const debug = ctx.env['BERTH_DEBUG'] ? (msg: string) => ctx.stderr.write(`debug: ${msg}\n`) : undefined;
  const result = await unpackImage({ store, snapshots, image, dest: dir, ...(debug ? { log: debug } : {}) });
  if (!opts.quiet) ctx.stdout.write(`${dir}\n`);
  debug?.(`unpacked ${result.files === undefined ? 'the whole tree' : `${result.files} entries`} by ${result.method}${result.snapshot ? ` from snapshot ${result.chainId}` : ''}`);
  return 0;
}
