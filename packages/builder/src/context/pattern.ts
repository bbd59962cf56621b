/**
 * gitignore-style patterns, used for `.berthignore` and for `copy.src` globs.
 *
 * - `*` matches within one path component, `?` one character, `[a-z]`/`[!a-z]` a class;
 * - `**` matches any number of components (`a/**` / `**` / `a/**` / `b`);
 * - `\` escapes the next character.
 */
export function globToRegExpSource(glob: string): string {
  let re = '';
  let i = 0;
  while (i < glob.length) {
    const c = glob[i] as string;
    if (c === '*') {
      if (glob[i + 1] === '*') {
        const before = i === 0 || glob[i - 1] === '/';
        const after = i + 2 === glob.length || glob[i + 2] === '/';
        if (before && after) {
          if (i + 2 === glob.length) {
            re += '.*';
            i += 2;
          } else {
            re += '(?:.*/)?';
            i += 3;
          }
          continue;
        }
      }
      re += '[^/]*';
      i++;
    } else if (c === '?') {
      re += '[^/]';
      i++;
    } else if (c === '[') {
      const end = glob.indexOf(']', i + 2);
      if (end < 0) {
        re += '\\[';
        i++;
        continue;
      }
      let body = glob.slice(i + 1, end);
      let negate = false;
      if (body.startsWith('!') || body.startsWith('^')) {
        negate = true;
        body = body.slice(1);
      }
      body = body.replace(/\\/g, '\\\\').replace(/\]/g, '\\]');
      re += negate ? `[^/${body}]` : `[${body}]`;
      i = end + 1;
    } else if (c === '\\' && i + 1 < glob.length) {
      re += escapeRe(glob[i + 1] as string);
      i += 2;
    } else {
      re += escapeRe(c);
      i++;
    }
  }
  return re;
}

function escapeRe(c: string): string {
  return /[.*+?^${}()|[\]\\/]/.test(c) ? `\\${c}` : c;
}

export function hasGlobChars(p: string): boolean {
  return /[*?[]/.test(p);
}

/** An anchored glob over `/`-separated relative paths. */
export function compileGlob(glob: string): RegExp {
  return new RegExp(`^${globToRegExpSource(glob)}$`);
}

interface Rule {
  re: RegExp;
  negate: boolean;
  dirOnly: boolean;
}

/**
 * A `.berthignore` matcher with gitignore semantics: the last matching pattern
 * wins, `!pattern` re-includes, a trailing `/` matches directories only, a
 * pattern with a `/` at the start or in the middle is anchored at the context
 * root and otherwise matches at any depth, and anything inside an ignored
 * directory is ignored (it cannot be re-included, as in git).
 */
export class IgnoreMatcher {
  private readonly rules: Rule[] = [];

  constructor(text = '') {
    for (const raw of text.split(/\r?\n/)) this.add(raw);
  }

  get empty(): boolean {
    return this.rules.length === 0;
  }

  private add(raw: string): void {
    let line = raw.replace(/(?<!\\)\s+$/, '');
    if (line === '' || line.startsWith('#')) return;
    let negate = false;
    if (line.startsWith('!')) {
      negate = true;
      line = line.slice(1);
    } else if (line.startsWith('\\!') || line.startsWith('\\#')) {
      line = line.slice(1);
    }
    let dirOnly = false;
    if (line.endsWith('/')) {
      dirOnly = true;
      line = line.replace(/\/+$/, '');
    }
    if (line === '') return;
    const anchored = line.includes('/');
    line = line.replace(/^\/+/, '');
    const src = globToRegExpSource(line);
    // A pattern also matches everything below what it names (`build` ignores `build/x`);
    // that is handled by checking parents, so the regex matches the path itself.
    const re = new RegExp(anchored ? `^${src}$` : `^(?:.*/)?${src}$`);
    this.rules.push({ re, negate, dirOnly });
  }

  /** Does `rel` itself match (its parents not considered)? For walkers that skip ignored directories. */
  matchOne(rel: string, isDir: boolean): boolean {
    let ignored = false;
    for (const r of this.rules) {
      if (r.dirOnly && !isDir) continue;
      if (r.re.test(rel)) ignored = !r.negate;
    }
    return ignored;
  }

  /** Is `rel` (relative, `/`-separated, no leading `./`) ignored? `isDir` says whether it is a directory. */
  ignores(rel: string, isDir: boolean): boolean {
    if (this.rules.length === 0 || rel === '' || rel === '.') return false;
    const parts = rel.split('/');
    for (let i = 1; i < parts.length; i++) {
      if (this.matchOne(parts.slice(0, i).join('/'), true)) return true;
    }
    return this.matchOne(rel, isDir);
  }
}
