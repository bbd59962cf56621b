import { formatPlatform, type Platform } from '@berth/oci';
import { INDEX_DIGEST_ANNOTATION } from '@berth/store';
import type { CommandContext } from '../context.js';
import { humanSize, listTemplate, parseFormat, relativeTime, table, writeJson } from '../output.js';

export interface ImageRow {
  repository: string;
  tag: string;
  reference: string;
  /** The image ID: the platform manifest's digest (what `inspect` calls `Digest`, and rmi/tag/run accept). */
  digest: string;
  /** docker's repo digest: the digest the registry knows the image by (the index it was pulled through, else the manifest). */
  repoDigest: string;
  platform: string;
  size: number;
  created: string | undefined;
}

const compare = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

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
      repoDigest: reference.digest?.toString() ?? descriptor.annotations?.[INDEX_DIGEST_ANNOTATION] ?? image.descriptor.digest,
      platform: formatPlatform(platform),
      size,
      created: image.config.created,
    });
  }
  // By code unit, not localeCompare: its first call loads ICU's collator (about 10 ms of `berth images`).
  rows.sort((a, b) => compare(a.repository, b.repository) || compare(a.tag, b.tag));
  return dropUntaggedDuplicates(rows);
}

/**
 * As docker lists them: a row per repository and tag; an image pulled by digest
 * (`alpine@sha256:…`, tag `<none>`) shows once per repository, and not at all when
 * that repository also tags it by name.
 */
export function dropUntaggedDuplicates(rows: ImageRow[]): ImageRow[] {
  const tagged = new Set(rows.filter((r) => r.tag !== '<none>').map((r) => `${r.repository} ${r.digest}`));
  const seen = new Set<string>();
  return rows.filter((r) => {
    if (r.tag !== '<none>') return true;
    const key = `${r.repository} ${r.digest}`;
    if (tagged.has(key) || seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

/** docker's column titles of `images --format 'table …'`. */
const IMAGE_HEADERS = { Repository: 'REPOSITORY', Tag: 'TAG', ID: 'IMAGE ID', Digest: 'DIGEST', CreatedAt: 'CREATED AT', CreatedSince: 'CREATED', Size: 'SIZE', Platform: 'PLATFORM' };

const shortId = (digest: string): string => digest.replace(/^sha256:/, '').slice(0, 12);

/**
 * `berth images`: docker's columns (REPOSITORY TAG IMAGE ID CREATED SIZE; `--digests` adds
 * the repo digest), one row per repository and tag. The image ID is the platform manifest's
 * digest; `-q` prints each ID once (12 hex digits, `--no-trunc` the full digest).
 */
export async function images(ctx: CommandContext, opts: { format?: string; quiet?: boolean; digests?: boolean; trunc?: boolean }): Promise<number> {
  const render = await listTemplate(opts.format);
  const format = render ? 'template' : parseFormat(opts.format);
  const rows = await listImages(ctx);
  const id = (d: string): string => (opts.trunc === false ? d : shortId(d));
  if (render) {
    // docker's placeholders for `images --format`.
    const docker = (r: ImageRow) => ({
      Repository: r.repository,
      Tag: r.tag,
      ID: id(r.digest),
      Digest: r.repoDigest,
      CreatedAt: r.created,
      CreatedSince: relativeTime(r.created),
      Size: humanSize(r.size),
      Platform: r.platform,
    });
    ctx.stdout.write(render(rows.map(docker), IMAGE_HEADERS));
  } else if (format === 'json') {
    writeJson(ctx.stdout, rows);
  } else if (opts.quiet) {
    ctx.stdout.write([...new Set(rows.map((r) => id(r.digest)))].map((d) => `${d}\n`).join(''));
  } else {
    const head = opts.digests ? ['REPOSITORY', 'TAG', 'DIGEST', 'IMAGE ID', 'CREATED', 'SIZE'] : ['REPOSITORY', 'TAG', 'IMAGE ID', 'CREATED', 'SIZE'];
    ctx.stdout.write(
      table(
        head,
        rows.map((r) => [r.repository, r.tag, ...(opts.digests ? [r.repoDigest] : []), id(r.digest), relativeTime(r.created), humanSize(r.size)]),
      ),
    );
  }
  return 0;
}
