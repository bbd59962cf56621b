import { Reference } from '@berth/oci';
import type { CommandContext } from '../context.js';
import { platformFlag, usageError } from '../output.js';
import { TransferProgress, type TransferEvent } from '../progress.js';

/** `berth push [-q] LOCAL [REMOTE]`: upload an image from the store to a registry. */
export async function push(ctx: CommandContext, local: string, remote: string | undefined, opts: { quiet?: boolean }): Promise<number> {
  const source = Reference.parse(local);
  const destination = Reference.parse(remote ?? local);
  const [{ pushImage }, store, client] = await Promise.all([import('@berth/registry'), ctx.store(), ctx.registry()]);
  const progress = new TransferProgress({ stream: ctx.stderr, enabled: ctx.interactive && !opts.quiet, doneLabel: 'Pushed' });
  if (ctx.interactive && !opts.quiet) ctx.stderr.write(`The push refers to repository [${destination.name}]\n`);
  let result;
  try {
    result = await pushImage({
      client,
      store,
      source,
      destination,
      onProgress: (e) => {
        if (e.kind !== 'layer' && e.kind !== 'config') return;
        const status: TransferEvent['status'] = e.status === 'pushed' ? 'done' : e.status;
        progress.update({ id: e.id, status, ...(e.current !== undefined ? { current: e.current } : {}), ...(e.total !== undefined ? { total: e.total } : {}) });
      },
    });
  } finally {
    progress.stop();
  }
  if (!opts.quiet) ctx.stdout.write(`${destination.tag ?? destination.identifier}: digest: ${result.digest} size: ${result.size}\n`);
  ctx.stdout.write(`${destination.withDigest(result.digest).toString()}\n`);
  return 0;
}

const SAVE_FORMATS = ['docker-archive', 'oci-archive', 'oci'] as const;

/** `berth save [--format F] -o FILE|DIR REF…` (or to stdout when it is not a terminal). */
export async function save(ctx: CommandContext, refs: string[], opts: { output?: string; format?: string }): Promise<number> {
  const format = SAVE_FORMATS.find((f) => f === (opts.format ?? 'docker-archive'));
  if (!format) throw usageError(`save: unknown --format ${JSON.stringify(opts.format)} (use ${SAVE_FORMATS.join(', ')})`);
  if (format === 'oci' && !opts.output) throw usageError('save: --format oci writes a directory; give it with -o DIR');
  const { saveImages } = await import('@berth/archive');
  const store = await ctx.store();
  if (!opts.output && ctx.stdout.isTTY) {
    throw usageError('save: refusing to write an archive to a terminal; use -o FILE or redirect stdout');
  }
  await saveImages({ store, references: refs, output: opts.output ?? ctx.stdout, format });
  return 0;
}

/** `berth load -i FILE|DIR` (or an archive on stdin). */
export async function load(ctx: CommandContext, opts: { input?: string; quiet?: boolean; repository?: string; platform?: string }): Promise<number> {
  const platform = platformFlag(opts.platform);
  const { loadImages } = await import('@berth/archive');
  const store = await ctx.store();
  const loaded = await loadImages({
    store,
    input: opts.input ?? ctx.stdin,
    ...(opts.repository !== undefined ? { repository: opts.repository } : {}),
    ...(platform ? { platform } : {}),
  });
  if (opts.quiet) return 0;
  for (const img of loaded) {
    if (img.reference) ctx.stdout.write(`Loaded image: ${img.reference.familiar()}\n`);
    else ctx.stdout.write(`Loaded image ID: ${img.descriptor.digest}${img.untaggedName ? ` (name "${img.untaggedName}" needs a repository)` : ''}\n`);
  }
  return 0;
}
