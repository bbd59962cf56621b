import { formatPlatform, Reference, type Platform } from '@berth/oci';
import type { PullResult } from '@berth/registry';
import type { PullOptions } from '../commands/pull.js';
import type { CommandContext } from '../context.js';
import { parseFormat, platformFlag, usageError, writeJson } from '../output.js';

/** Pull with docker-like progress; shared by `pull`, `run` and `unpack` when an image is missing. */
export async function pullWithProgress(ctx: CommandContext, reference: Reference, opts: { platform?: Platform; quiet: boolean; maxConcurrentDownloads?: number }): Promise<PullResult> {
  const { pullImage } = await import('@berth/registry');
  const [store, client] = await Promise.all([ctx.store(), ctx.registry()]);
  const showProgress = ctx.interactive && !opts.quiet;
  // cli-progress loads only when there is a terminal to draw on.
  const progress = showProgress ? new (await import('../progress.js')).TransferProgress({ stream: ctx.stderr, enabled: true }) : undefined;
  const tagOrDigest = reference.digest ? reference.digest.toString() : (reference.tag ?? 'latest');
  if (showProgress) ctx.stderr.write(`${tagOrDigest}: Pulling from ${reference.repository}\n`);
  try {
    return await pullImage({
      client,
      store,
      reference,
      ...(opts.platform ? { platform: opts.platform } : {}),
      ...(opts.maxConcurrentDownloads ? { maxConcurrentDownloads: opts.maxConcurrentDownloads } : {}),
      onProgress: (e) => {
        if (e.kind === 'layer') progress?.update(e);
      },
    });
  } finally {
    progress?.stop();
  }
}

export async function pull(ctx: CommandContext, ref: string, opts: PullOptions): Promise<number> {
  const format = parseFormat(opts.format);
  const reference = Reference.parse(ref);
  const platform = platformFlag(opts.platform);
  const max = opts.maxConcurrentDownloads === undefined ? undefined : Number(opts.maxConcurrentDownloads);
  if (max !== undefined && (!Number.isInteger(max) || max < 1 || max > 64)) {
    throw usageError(`invalid --max-concurrent-downloads ${JSON.stringify(opts.maxConcurrentDownloads)}: expected a whole number from 1 to 64`);
  }
  const quiet = Boolean(opts.quiet) || format === 'json';
  // `berth pull` exits when the pull is done: socket buffers may reuse freed heap memory (faulted in
  // by huge pages) instead of going back to the kernel. Not for `run`, whose process may live on.
  (await import('@berth/store')).tuneHeapForStreaming();
  const result = await pullWithProgress(ctx, reference, {
    ...(platform ? { platform } : {}),
    quiet,
    ...(max !== undefined ? { maxConcurrentDownloads: max } : {}),
  });
  const upToDate = result.layersDownloaded === 0;
  if (format === 'json') {
    writeJson(ctx.stdout, {
      reference: result.reference.toString(),
      digest: result.descriptor.digest,
      indexDigest: result.indexDigest?.toString(),
      platform: formatPlatform(result.platform),
      layers: result.manifest.layers.length,
      layersDownloaded: result.layersDownloaded,
      layersExisting: result.layersExisting,
      status: upToDate ? 'up-to-date' : 'downloaded',
    });
    return 0;
  }
  if (!opts.quiet) {
    ctx.stdout.write(`Digest: ${result.indexDigest ?? result.descriptor.digest}\n`);
    ctx.stdout.write(upToDate ? `Status: Image is up to date for ${reference.familiar()}\n` : `Status: Downloaded newer image for ${reference.familiar()}\n`);
  }
  ctx.stdout.write(`${reference.toString()}\n`);
  return 0;
}
