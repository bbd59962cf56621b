import { formatPlatform, type Platform } from '@berth/oci';
import type { CommandContext } from '../context.js';
import { humanSize, parseFormat, relativeTime, table, writeJson } from '../output.js';

export interface ImageRow {
  repository: string;
  tag: string;
  reference: string;
  digest: string;
  platform: string;
  size: number;
  created: string | undefined;
}

/** Every tagged image in the store, with its platform, size and creation time. */
export async function listImages(ctx: CommandContext): Promise<ImageRow[]> {
  const store = await ctx.store();
  const rows: ImageRow[] = [];
  for (const { reference, descriptor } of await store.listTags()) {
    const image = await store.getImage(reference);
    const size = image.configDescriptor.size + image.manifest.layers.reduce((n, l) => n + l.size, 0);
    const platform: Platform = descriptor.platform ?? { os: image.config.os, architecture: image.config.architecture, ...(image.config.variant ? { variant: image.config.variant } : {}) };
    rows.push({
      repository: reference.familiarName(),
      tag: reference.tag ?? '<none>',
      reference: reference.toString(),
      digest: image.descriptor.digest,
      platform: formatPlatform(platform),
      size,
      created: image.config.created,
    });
  }
  rows.sort((a, b) => a.repository.localeCompare(b.repository) || a.tag.localeCompare(b.tag));
  return rows;
}

export async function images(ctx: CommandContext, opts: { format?: string; quiet?: boolean }): Promise<number> {
  const format = parseFormat(opts.format);
  const rows = await listImages(ctx);
  if (format === 'json') {
    writeJson(ctx.stdout, rows);
  } else if (opts.quiet) {
    ctx.stdout.write([...new Set(rows.map((r) => r.digest))].map((d) => `${d}\n`).join(''));
  } else {
    ctx.stdout.write(
      table(
        ['REPOSITORY', 'TAG', 'DIGEST', 'PLATFORM', 'SIZE', 'CREATED'],
        rows.map((r) => [r.repository, r.tag, r.digest.replace(/^sha256:/, '').slice(0, 12), r.platform, humanSize(r.size), relativeTime(r.created)]),
      ),
    );
  }
  return 0;
}
