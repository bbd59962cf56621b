import { compileTemplate } from './template.js';

/**
 * docker's `--format` of its lists (`ps`, `images`): a Go template applied to each row, one
 * line each; `table TEMPLATE` adds a header line (each field's column title) and aligns the
 * cells separated by tabs as docker's tabwriter does (a cell is as wide as its column's
 * widest plus 3 spaces, at least 10; the last cell of a line is not padded). `\t` and `\n`
 * written as two characters are a tab and a newline, as in docker.
 */
export function renderList(format: string, rows: readonly object[], headers: Readonly<Record<string, string>>): string {
  const table = /^table(\s|$)/.test(format);
  const src = (table ? format.slice('table'.length) : format).trim().replace(/\\t/g, '\t').replace(/\\n/g, '\n');
  const render = compileTemplate(src);
  const lines = rows.map((r) => render(r));
  if (!table) return lines.map((l) => `${l}\n`).join('');
  // The header: the same template over an object whose every field is its column title.
  const titles = new Proxy({}, { get: (_, key) => (typeof key === 'string' ? (headers[key] ?? columnTitle(key)) : undefined) });
  let header: string;
  try {
    header = render(titles);
  } catch {
    // A path below a field (`.Config.Cmd`): no title docker would have either.
    header = '';
  }
  return tabwriter([header, ...lines]);
}

/** A column title for a field docker has no title for: `RestartCount` → `RESTART COUNT`. */
export function columnTitle(field: string): string {
  return field.replace(/([a-z0-9])([A-Z])/g, '$1 $2').toUpperCase();
}

/** Go's tabwriter.NewWriter(out, 10, 1, 3, ' ', 0) over whole lines, as docker's formatter uses it. */
export function tabwriter(lines: readonly string[]): string {
  const rows = lines.flatMap((l) => l.split('\n')).map((l) => l.split('\t'));
  const widths: number[] = [];
  for (const cells of rows) {
    cells.slice(0, -1).forEach((c, i) => {
      widths[i] = Math.max(widths[i] ?? 0, c.length + 3, 10);
    });
  }
  return rows.map((cells) => cells.map((c, i) => (i < cells.length - 1 ? c.padEnd(widths[i] ?? 0) : c)).join('').trimEnd() + '\n').join('');
}
