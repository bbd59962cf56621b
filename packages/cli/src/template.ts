import { BerthError } from '@berth/oci';

/**
 * A subset of Go's text/template, for docker's `--format '{{…}}'`: text and actions with
 * `{{-`/`-}}` trimming; pipelines (`a | b`) of field paths (`.Config.Env`, `.`, `$`, `$.X`),
 * literals (strings, raw strings, numbers, true, false, nil), parenthesised pipelines and
 * function calls; `if`/`with`/`range` … `else` … `end`. Functions: json, index, len, join,
 * split, upper, lower, title, print, println, printf (%s %d %v %q), eq, ne, lt, le, gt, ge,
 * not, and, or. Values print as Go prints them (`[a b]`, `map[k:v]`, `<no value>`).
 */

type Value = unknown;
type Node =
  | { kind: 'text'; text: string }
  | { kind: 'action'; pipe: Pipe }
  | { kind: 'if' | 'with' | 'range'; pipe: Pipe; body: Node[]; otherwise: Node[] };
type Pipe = Cmd[];
type Arg =
  | { kind: 'field'; base: 'dot' | 'root'; path: string[] }
  | { kind: 'literal'; value: Value }
  | { kind: 'ident'; name: string }
  | { kind: 'pipe'; pipe: Pipe; path: string[] };
type Cmd = Arg[];

const fail = (msg: string): never => {
  throw new BerthError('EINVAL_ARGUMENT', `template: ${msg}`);
};

/** Go's %v of a value. */
function show(v: Value): string {
  if (v === undefined || v === null) return '<no value>';
  if (Array.isArray(v)) return `[${v.map(show).join(' ')}]`;
  if (typeof v === 'object') {
    const o = v as Record<string, Value>;
    return `map[${Object.keys(o)
      .sort()
      .map((k) => `${k}:${show(o[k])}`)
      .join(' ')}]`;
  }
  return String(v);
}

function truthy(v: Value): boolean {
  if (Array.isArray(v)) return v.length > 0;
  if (v && typeof v === 'object') return Object.keys(v).length > 0;
  return Boolean(v);
}

function printf(format: string, args: Value[]): string {
  let i = 0;
  return format.replace(/%([sdvq%])/g, (_, verb: string) => {
    if (verb === '%') return '%';
    const a = args[i++];
    if (verb === 'q') return JSON.stringify(typeof a === 'string' ? a : show(a));
    if (verb === 'd') return String(Math.trunc(Number(a)));
    return show(a);
  });
}

const FUNCS: Record<string, (...a: Value[]) => Value> = {
  json: (v) => JSON.stringify(v ?? null),
  index: (v, ...keys) => keys.reduce<Value>((o, k) => (o !== null && typeof o === 'object' ? (o as Record<string, Value>)[String(k)] : fail(`index of ${show(o)}`)), v),
  len: (v) => (typeof v === 'string' || Array.isArray(v) ? v.length : v && typeof v === 'object' ? Object.keys(v).length : fail(`len of ${show(v)}`)),
  join: (v, sep) => (Array.isArray(v) ? v.map((x) => (typeof x === 'string' ? x : show(x))).join(String(sep)) : fail(`join of ${show(v)}`)),
  split: (s, sep) => String(s).split(String(sep)),
  upper: (s) => String(s).toUpperCase(),
  lower: (s) => String(s).toLowerCase(),
  title: (s) => String(s).replace(/\b\w/g, (c) => c.toUpperCase()),
  print: (...a) => a.map((x) => (typeof x === 'string' ? x : show(x))).join(''),
  println: (...a) => `${a.map(show).join(' ')}\n`,
  printf: (f, ...a) => printf(String(f), a),
  eq: (a, ...b) => b.some((x) => x === a),
  ne: (a, b) => a !== b,
  lt: (a, b) => (a as number) < (b as number),
  le: (a, b) => (a as number) <= (b as number),
  gt: (a, b) => (a as number) > (b as number),
  ge: (a, b) => (a as number) >= (b as number),
  not: (a) => !truthy(a),
  and: (...a) => a.find((x) => !truthy(x)) ?? a[a.length - 1],
  or: (...a) => a.find((x) => truthy(x)) ?? a[a.length - 1],
};

/** The tokens of one action: strings, numbers, fields, identifiers, `(`, `)`, `|`. */
function lex(src: string): string[] {
  const tokens: string[] = [];
  const re = /\s*("(?:[^"\\]|\\.)*"|`[^`]*`|\(|\)(?:\.[A-Za-z_0-9]+)*|\||[-+]?\d+(?:\.\d+)?|\$?[A-Za-z_0-9]*(?:\.[A-Za-z_0-9]+)*\.?|\S)/y;
  let m: RegExpExecArray | null;
  while (re.lastIndex < src.length && (m = re.exec(src)) !== null) {
    if (m[1] === undefined || m[1] === '') {
      if (src.slice(re.lastIndex).trim() === '') break;
      fail(`unexpected ${JSON.stringify(src.slice(re.lastIndex).trim()[0])}`);
    }
    tokens.push(m[1] as string);
  }
  return tokens;
}

function parseArg(tokens: string[], pos: { i: number }): Arg {
  const t = tokens[pos.i++] as string;
  if (t === '(') {
    const pipe = parsePipe(tokens, pos, ')');
    const close = tokens[pos.i++];
    if (close === undefined || !close.startsWith(')')) fail('unclosed (');
    // `(index .Mounts 0).Source`: a field of the parenthesised value.
    return { kind: 'pipe', pipe, path: (close as string).split('.').slice(1) };
  }
  if (t.startsWith('"')) return { kind: 'literal', value: JSON.parse(t) as string };
  if (t.startsWith('`')) return { kind: 'literal', value: t.slice(1, -1) };
  if (/^[-+]?\d/.test(t)) return { kind: 'literal', value: Number(t) };
  if (t === 'true' || t === 'false') return { kind: 'literal', value: t === 'true' };
  if (t === 'nil') return { kind: 'literal', value: null };
  if (t === '.') return { kind: 'field', base: 'dot', path: [] };
  if (t.startsWith('.')) return { kind: 'field', base: 'dot', path: t.slice(1).split('.') };
  if (t === '$') return { kind: 'field', base: 'root', path: [] };
  if (t.startsWith('$.')) return { kind: 'field', base: 'root', path: t.slice(2).split('.') };
  if (/^[A-Za-z_]\w*$/.test(t)) return { kind: 'ident', name: t };
  return fail(`unexpected ${JSON.stringify(t)}`);
}

function parsePipe(tokens: string[], pos: { i: number }, until?: string): Pipe {
  const pipe: Pipe = [];
  let cmd: Cmd = [];
  while (pos.i < tokens.length && !(until !== undefined && tokens[pos.i]?.startsWith(until))) {
    if (tokens[pos.i] === '|') {
      if (cmd.length === 0) fail('missing command before |');
      pipe.push(cmd);
      cmd = [];
      pos.i++;
      continue;
    }
    cmd.push(parseArg(tokens, pos));
  }
  if (cmd.length === 0) fail('missing value');
  pipe.push(cmd);
  return pipe;
}

const pipeOf = (src: string): Pipe => {
  const tokens = lex(src);
  const pos = { i: 0 };
  const pipe = parsePipe(tokens, pos);
  if (pos.i < tokens.length) fail(`unexpected ${JSON.stringify(tokens[pos.i])}`);
  return pipe;
};

/** Parse a template; errors are `template: …` (EINVAL_ARGUMENT). */
export function parseTemplate(src: string): Node[] {
  const root: Node[] = [];
  const stack: Array<{ node: Extract<Node, { body: Node[] }>; inElse: boolean }> = [];
  const out = (): Node[] => {
    const top = stack[stack.length - 1];
    return top ? (top.inElse ? top.node.otherwise : top.node.body) : root;
  };
  const re = /\{\{(-\s)?([\s\S]*?)(\s-)?\}\}/g;
  let last = 0;
  let trimNext = false;
  for (let m = re.exec(src); m !== null; m = re.exec(src)) {
    let text = src.slice(last, m.index);
    if (trimNext) text = text.replace(/^\s+/, '');
    if (m[1]) text = text.replace(/\s+$/, '');
    if (text) out().push({ kind: 'text', text });
    trimNext = Boolean(m[3]);
    last = re.lastIndex;
    const body = (m[2] ?? '').trim();
    if (body.startsWith('/*')) continue;
    const word = /^(if|with|range|else|end)\b\s*/.exec(body);
    if (!word) {
      out().push({ kind: 'action', pipe: pipeOf(body) });
      continue;
    }
    const rest = body.slice(word[0].length);
    if (word[1] === 'end') {
      if (!stack.pop()) fail('unexpected {{end}}');
    } else if (word[1] === 'else') {
      const top = stack[stack.length - 1];
      if (!top || top.inElse) fail('unexpected {{else}}');
      else top.inElse = true;
    } else {
      const node = { kind: word[1] as 'if' | 'with' | 'range', pipe: pipeOf(rest), body: [], otherwise: [] };
      out().push(node);
      stack.push({ node, inElse: false });
    }
  }
  if (stack.length > 0) fail(`unexpected EOF: {{${stack[stack.length - 1]?.node.kind}}} without {{end}}`);
  let tail = src.slice(last);
  if (trimNext) tail = tail.replace(/^\s+/, '');
  if (tail) root.push({ kind: 'text', text: tail });
  return root;
}

function field(base: Value, path: string[]): Value {
  let v = base;
  for (const key of path) {
    if (v === null || v === undefined) return undefined;
    if (typeof v !== 'object') fail(`can't evaluate field ${key} in type ${typeof v}`);
    v = (v as Record<string, Value>)[key];
  }
  return v;
}

function evalArg(arg: Arg, dot: Value, root: Value, piped: Value[]): Value {
  switch (arg.kind) {
    case 'literal':
      return arg.value;
    case 'field':
      return field(arg.base === 'dot' ? dot : root, arg.path);
    case 'pipe':
      return field(evalPipe(arg.pipe, dot, root), arg.path);
    case 'ident': {
      const fn = FUNCS[arg.name];
      return fn ? fn(...piped) : fail(`function "${arg.name}" not defined`);
    }
  }
}

function evalPipe(pipe: Pipe, dot: Value, root: Value): Value {
  let prev: Value[] = [];
  let result: Value;
  for (const cmd of pipe) {
    const [head, ...rest] = cmd as [Arg, ...Arg[]];
    if (head.kind === 'ident') {
      const args = [...rest.map((a) => evalArg(a, dot, root, [])), ...prev];
      result = evalArg(head, dot, root, args);
    } else {
      if (rest.length > 0 || prev.length > 0) fail('can\'t give arguments to a non-function');
      result = evalArg(head, dot, root, []);
    }
    prev = [result];
  }
  return result;
}

function run(nodes: Node[], dot: Value, root: Value): string {
  let s = '';
  for (const n of nodes) {
    if (n.kind === 'text') s += n.text;
    else if (n.kind === 'action') {
      const v = evalPipe(n.pipe, dot, root);
      s += typeof v === 'string' ? v : show(v);
    } else {
      const v = evalPipe(n.pipe, dot, root);
      if (n.kind === 'if') s += run(truthy(v) ? n.body : n.otherwise, dot, root);
      else if (n.kind === 'with') s += truthy(v) ? run(n.body, v, root) : run(n.otherwise, dot, root);
      else {
        const items = Array.isArray(v) ? v : v && typeof v === 'object' ? Object.keys(v).sort().map((k) => (v as Record<string, Value>)[k]) : [];
        s += items.length > 0 ? items.map((item) => run(n.body, item, root)).join('') : run(n.otherwise, dot, root);
      }
    }
  }
  return s;
}

/** A parsed template, applied to one value at a time (docker prints one line per object). */
export function compileTemplate(src: string): (value: unknown) => string {
  const nodes = parseTemplate(src);
  return (value) => run(nodes, value, value);
}
