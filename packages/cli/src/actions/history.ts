import type { History } from '@berth/oci';
import type { CommandContext } from '../context.js';
import { humanSize, parseFormat, relativeTime, table, writeJson } from '../output.js';

export interface HistoryRow {
  /** The image ID on the newest row, `<missing>` on the others (as docker with a pulled image). */
  id: string;
  created: string | undefined;
  createdBy: string;
  /** Bytes of the layer the step made (as stored, compressed); 0 for an empty layer. */
  size: number;
  comment: string;
}

/** The image's history, newest first: one row per config `history` entry, matched in order to the layers. */
export async function imageHistory(ctx: CommandContext, name: string): Promise<HistoryRow[]> {
  const store = await ctx.store();
  const image = await store.getImage(name);
  const layers = image.manifest.layers;
  const entries: History[] = image.config.history ?? layers.map(() => ({}));
  let next = 0;
  const rows: HistoryRow[] = entries.map((h) => {
    const size = h.empty_layer ? 0 : (layers[next++]?.size ?? 0);
    return { id: '<missing>', created: h.created, createdBy: h.created_by ?? '', size, comment: h.comment ?? '' };
  });
  rows.reverse();
  if (rows[0]) rows[0].id = image.descriptor.digest;
  return rows;
}

/** docker's truncation of CREATED BY: 45 characters, the last an ellipsis. */
function ellipsis(s: string, max: number): string {
  const flat = s.replace(/\s+/g, ' ');
  return flat.length > max ? `${flat.slice(0, max - 1)}…` : flat;
}

export async function history(ctx: CommandContext, name: string, opts: { trunc?: boolean; quiet?: boolean; format?: string }): Promise<number> {
  const format = parseFormat(opts.format);
  const rows = await imageHistory(ctx, name);
  const full = opts.trunc === false;
  const id = (d: string): string => (full || d === '<missing>' ? d : d.replace(/^sha256:/, '').slice(0, 12));
  if (format === 'json') {
    writeJson(ctx.stdout, rows);
  } else if (opts.quiet) {
    ctx.stdout.write(rows.map((r) => `${id(r.id)}\n`).join(''));
  } else {
    ctx.stdout.write(
      table(
        ['IMAGE', 'CREATED', 'CREATED BY', 'SIZE', 'COMMENT'],
        rows.map((r) => [id(r.id), relativeTime(r.created), full ? r.createdBy : ellipsis(r.createdBy, 45), humanSize(r.size), r.comment]),
      ),
    );
  }
  return 0;
}
