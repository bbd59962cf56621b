/**
 * `$NAME`, `${NAME}`, `${NAME:-default}` (default when unset or empty),
 * `${NAME:+alternative}` (alternative when set and not empty) and `$$` for a
 * literal `$`. A reference to an unknown name is an error: recipes should not
 * silently lose text, and `$$` is there for a literal dollar.
 */
export type Vars = ReadonlyMap<string, string>;

export class ExpandError extends Error {
  constructor(
    message: string,
    readonly variable?: string,
  ) {
    super(message);
  }
}

const NAME = /^[A-Za-z_][A-Za-z0-9_]*/;

export function expand(text: string, vars: Vars): string {
  if (!text.includes('$')) return text;
  let out = '';
  let i = 0;
  while (i < text.length) {
    const c = text[i] as string;
    if (c !== '$') {
      out += c;
      i++;
      continue;
    }
    const next = text[i + 1];
    if (next === '$') {
      out += '$';
      i += 2;
      continue;
    }
    if (next === '{') {
      const close = findClose(text, i + 2);
      if (close < 0) throw new ExpandError(`unterminated "\${" in ${JSON.stringify(text)}`);
      const body = text.slice(i + 2, close);
      out += expandBraced(body, vars);
      i = close + 1;
      continue;
    }
    const m = NAME.exec(text.slice(i + 1));
    if (!m) {
      // `$` followed by something that is not a name (`$1`, `$ `, end): literal.
      out += '$';
      i++;
      continue;
    }
    out += lookup(m[0], vars);
    i += 1 + m[0].length;
  }
  return out;
}

function findClose(text: string, from: number): number {
  let depth = 1;
  for (let j = from; j < text.length; j++) {
    if (text[j] === '$' && text[j + 1] === '{') {
      depth++;
      j++;
    } else if (text[j] === '}') {
      depth--;
      if (depth === 0) return j;
    }
  }
  return -1;
}

function expandBraced(body: string, vars: Vars): string {
  const m = NAME.exec(body);
  if (!m) throw new ExpandError(`bad substitution "\${${body}}"`);
  const name = m[0];
  const rest = body.slice(name.length);
  if (rest === '') return lookup(name, vars);
  const value = vars.get(name);
  if (rest.startsWith(':-')) return value !== undefined && value !== '' ? value : expand(rest.slice(2), vars);
  if (rest.startsWith(':+')) return value !== undefined && value !== '' ? expand(rest.slice(2), vars) : '';
  throw new ExpandError(`bad substitution "\${${body}}": only \${NAME}, \${NAME:-default} and \${NAME:+alternative} are supported`);
}

function lookup(name: string, vars: Vars): string {
  const v = vars.get(name);
  if (v === undefined) throw new ExpandError(`$${name} is not defined (declare it in args, set it with env, or write $$ for a literal $)`, name);
  return v;
}

/** The names `text` refers to (for cache keys and diagnostics). */
export function referencedNames(text: string): string[] {
  const out = new Set<string>();
  const re = /\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)|\$([A-Za-z_][A-Za-z0-9_]*)/g;
  for (const m of text.matchAll(re)) {
    const n = m[1] ?? m[2];
    if (n) out.add(n);
  }
  return [...out];
}
