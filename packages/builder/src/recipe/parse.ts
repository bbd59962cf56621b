import { createHash, randomBytes } from 'node:crypto';
import { mkdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import { BerthError } from '@berth/oci';
import type { Document, LineCounter, Node as YamlNode } from 'yaml';
import type { z } from 'zod';
import { RecipeSchema, STEP_KINDS, type RecipeDocument, type RecipeInput, type StepDocument, type StepKind } from './schema.js';

/** Recipes larger than this are refused before parsing. */
export const MAX_RECIPE_BYTES = 1024 * 1024;

/**
 * `yaml` is loaded on first parse (synchronously, through require): it is the
 * largest module a build needs, and a build whose recipe is unchanged takes
 * the parsed form from the recipe cache without it.
 */
type YamlModule = typeof import('yaml');
let yamlModule: YamlModule | undefined;
function yaml(): YamlModule {
  yamlModule ??= createRequire(import.meta.url)('yaml') as YamlModule;
  return yamlModule;
}

/**
 * Where something is in a recipe: the file (or, for a recipe given as an
 * object, its label) and, for recipe text, the 1-based line and column.
 */
export interface SourceLocation {
  file: string;
  /** Absent for a recipe given as an object (it has no text to point into). */
  line?: number;
  column?: number;
}

/** `berth.yaml:7:5` for text, the label alone (`recipe`) for an object. */
export function formatLocation(loc: SourceLocation): string {
  return loc.line === undefined ? loc.file : `${loc.file}:${loc.line}:${loc.column ?? 1}`;
}

interface StepBase {
  /** Index in its stage's `steps`. */
  index: number;
  /** `steps[2].run`, `stages.builder.steps[0].copy`: used in messages. */
  path: string;
  /** Where the step's value starts. */
  location: SourceLocation;
}

export interface RunStep extends StepBase {
  kind: 'run';
  /** A string runs with `/bin/sh -c`; a list is an argv. */
  command: string | string[];
  env: Record<string, string>;
}
export interface CopyStep extends StepBase {
  kind: 'copy';
  src: string[];
  dest: string;
  chown?: string;
  chmod?: string;
  from?: string;
}
export interface EnvStep extends StepBase {
  kind: 'env';
  env: Record<string, string>;
}
export interface WorkdirStep extends StepBase {
  kind: 'workdir';
  workdir: string;
}
export interface UserStep extends StepBase {
  kind: 'user';
  user: string;
}
export interface LabelStep extends StepBase {
  kind: 'label';
  labels: Record<string, string>;
}
export interface ExposeStep extends StepBase {
  kind: 'expose';
  ports: string[];
}
export interface VolumeStep extends StepBase {
  kind: 'volume';
  volumes: string[];
}
export type RecipeStep = RunStep | CopyStep | EnvStep | WorkdirStep | UserStep | LabelStep | ExposeStep | VolumeStep;

export interface RecipeStage {
  /** The stage's name; undefined for the final (top-level) stage. */
  name?: string;
  /** An image reference, a stage name or `scratch` (args not yet substituted). */
  from: string;
  fromLocation: SourceLocation;
  /** Stage-level arg defaults (on top of the recipe's). */
  args: Record<string, string>;
  steps: RecipeStep[];
  /** Prefix for step paths: `` or `stages.NAME.`. */
  pathPrefix: string;
}

/** A parsed, validated recipe. Stages are in dependency order; `final` is the top-level stage. */
export interface Recipe {
  file: string;
  args: Record<string, string>;
  argLocations: Record<string, SourceLocation>;
  stages: RecipeStage[];
  final: RecipeStage;
  entrypoint?: string[];
  cmd?: string[];
  stopsignal?: string;
}

export interface ParseRecipeOptions {
  /** Named in errors; default `berth.yaml`. */
  file?: string;
}

/**
 * Parse and validate a recipe. Errors are BerthError ERECIPE with one line
 * `FILE:LINE:COL: PATH: problem`, e.g. `berth.yaml:7:5: steps[2].copy.src: expected a string or a list`.
 */
export function parseRecipe(text: string, options: ParseRecipeOptions = {}): Recipe {
  const file = options.file ?? 'berth.yaml';
  if (Buffer.byteLength(text) > MAX_RECIPE_BYTES) {
    throw new BerthError('ERECIPE', `${file}: recipe larger than ${MAX_RECIPE_BYTES} bytes`);
  }
  const { LineCounter, parseDocument } = yaml();
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  const firstError = doc.errors[0];
  if (firstError) {
    const start = lineCounter.linePos(firstError.pos[0]);
    const msg = (firstError.message.split('\n')[0] ?? 'invalid YAML').replace(/ at line \d+, column \d+:?$/, '');
    throw new BerthError('ERECIPE', `${file}:${start.line}:${start.col}: ${msg}`, { details: { file, line: start.line, column: start.col } });
  }
  const loc = new YamlLocator(doc, lineCounter, file);
  let value: unknown;
  try {
    value = doc.toJS({ maxAliasCount: 50 });
  } catch (err) {
    throw new BerthError('ERECIPE', `${file}: ${(err as Error).message.split('\n')[0]}`, { cause: err });
  }
  if (value === null || value === undefined) throw new BerthError('ERECIPE', `${file}:1:1: the recipe is empty`);
  return validate(value, loc);
}

export interface ValidateRecipeOptions {
  /** Names the recipe in errors; default `recipe`. */
  file?: string;
}

/**
 * Validate a recipe given as an object (`RecipeInput`: what berth.yaml holds,
 * written in code) through the same schema and checks as `parseRecipe`. Errors
 * are the same ERECIPE lines without a position, which an object does not
 * have: `recipe: steps[2].copy.src: expected a string or a list`.
 */
export function validateRecipe(input: RecipeInput, options: ValidateRecipeOptions = {}): Recipe {
  return validate(input, new PathLocator(options.file ?? 'recipe'));
}

function validate(value: unknown, loc: Locator): Recipe {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw loc.error([], 'expected a map with at least `from`');
  const result = RecipeSchema.safeParse(value);
  if (!result.success) {
    const { issuePath, message, atKey } = pickIssue(result.error.issues, value, []);
    throw loc.error(issuePath, message, atKey);
  }
  return normalise(result.data, loc);
}

/** Bump when `Recipe` changes shape: cached parses of older versions are then ignored. */
const RECIPE_CACHE_VERSION = 1;

export interface LoadRecipeOptions {
  /**
   * Keep parsed recipes here (`<dir>/<sha256 of name and text>.json`) and reuse
   * them while the file's bytes are unchanged: the build cache directory passes this.
   */
  cacheDir?: string;
}

/** Read and parse a recipe file (errors name the file by its path relative to the cwd when shorter). */
export async function loadRecipe(file: string, options: LoadRecipeOptions = {}): Promise<Recipe> {
  let text: string;
  const shown = displayName(file);
  try {
    const st = await stat(file);
    if (!st.isFile()) throw new BerthError('ERECIPE', `load recipe ${shown}: not a regular file`);
    if (st.size > MAX_RECIPE_BYTES) throw new BerthError('ERECIPE', `load recipe ${shown}: larger than ${MAX_RECIPE_BYTES} bytes`);
    text = await readFile(file, 'utf8');
  } catch (err) {
    if (err instanceof BerthError) throw err;
    throw BerthError.wrap(`load recipe ${shown}`, err, 'ERECIPE');
  }
  if (!options.cacheDir) return parseRecipe(text, { file: shown });
  const key = createHash('sha256').update(`${RECIPE_CACHE_VERSION}\0${shown}\0${text}`).digest('hex');
  const cached = path.join(options.cacheDir, `${key}.json`);
  try {
    const recipe = JSON.parse(await readFile(cached, 'utf8')) as Recipe;
    if (recipe && typeof recipe === 'object' && recipe.file === shown && recipe.final) return recipe;
  } catch {
    // not cached yet (or unreadable): parse
  }
  const recipe = parseRecipe(text, { file: shown });
  try {
    await mkdir(options.cacheDir, { recursive: true, mode: 0o700 });
    const tmp = `${cached}.${randomBytes(4).toString('hex')}.tmp`;
    await writeFile(tmp, JSON.stringify(recipe), { mode: 0o600 });
    await rename(tmp, cached).catch(async (err: unknown) => {
      await rm(tmp, { force: true });
      throw err;
    });
  } catch {
    // A cache that cannot be written only costs the next build a parse.
  }
  return recipe;
}

function displayName(file: string): string {
  const rel = path.relative(process.cwd(), file);
  return rel && !rel.startsWith('..') && rel.length < file.length ? rel : file;
}

type Issue = z.core.$ZodIssue;
type PathElem = string | number;

/**
 * Choose the issue to report and turn it into a message. Unions of steps are
 * resolved to the branch the step's key names (`copy:` → the copy branch), so
 * the message is about what the author meant, not "Invalid input".
 */
function pickIssue(issues: readonly Issue[], root: unknown, base: PathElem[]): { issuePath: PathElem[]; message: string; atKey: boolean } {
  const issue = issues[0];
  if (!issue) return { issuePath: base, message: 'invalid', atKey: false };
  const here = [...base, ...(issue.path as PathElem[])];
  switch (issue.code) {
    case 'invalid_union': {
      const at = valueAt(root, here);
      const parent = here.at(-2);
      if (parent === 'steps' && at && typeof at === 'object' && !Array.isArray(at)) {
        const kind = STEP_KINDS.find((k) => Object.hasOwn(at, k));
        if (!kind) {
          const keys = Object.keys(at);
          return { issuePath: here, message: `unknown step${keys.length ? ` ${JSON.stringify(keys[0])}` : ''}: expected one of ${STEP_KINDS.join(', ')}`, atKey: false };
        }
        const branch = issue.errors[STEP_KINDS.indexOf(kind)];
        if (branch && branch.length > 0) return pickIssue(branch, root, here);
      }
      return { issuePath: here, message: issue.message === 'Invalid input' ? 'invalid value' : issue.message, atKey: false };
    }
    case 'unrecognized_keys': {
      const key = issue.keys[0] ?? '?';
      return { issuePath: [...here, key], message: 'unknown key', atKey: true };
    }
    case 'invalid_type': {
      const at = valueAt(root, here);
      if (at === undefined) return { issuePath: here, message: 'required', atKey: false };
      return { issuePath: here, message: issue.message.startsWith('Invalid input') ? `expected ${article(issue.expected)}, got ${describeValue(at)}` : issue.message, atKey: false };
    }
    case 'invalid_key':
      return { issuePath: here, message: issue.issues[0]?.message ?? 'invalid key', atKey: true };
    case 'too_small':
    case 'too_big':
    case 'invalid_format':
    case 'custom':
    default:
      return { issuePath: here, message: issue.message, atKey: false };
  }
}

function article(expected: string): string {
  if (expected === 'array') return 'a list';
  if (expected === 'record' || expected === 'object') return 'a map';
  if (expected === 'int') return 'an integer';
  return /^[aeiou]/.test(expected) ? `an ${expected}` : `a ${expected}`;
}

function describeValue(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'a map';
  return `${article(typeof v)}`;
}

function valueAt(root: unknown, p: readonly PathElem[]): unknown {
  let cur: unknown = root;
  for (const k of p) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<string | number, unknown>)[k];
  }
  return cur;
}

export function formatPath(p: readonly PathElem[]): string {
  let out = '';
  for (const k of p) {
    if (typeof k === 'number') out += `[${k}]`;
    else if (/^[A-Za-z_][A-Za-z0-9_-]*$/.test(k)) out += out ? `.${k}` : k;
    else out += `[${JSON.stringify(k)}]`;
  }
  return out;
}

/** Maps recipe paths to where they are, for steps' locations and errors. */
interface Locator {
  readonly file: string;
  /** The location of the value at `p` (or of its key with `atKey`). */
  at(p: readonly PathElem[], atKey?: boolean): SourceLocation;
  error(p: readonly PathElem[], message: string, atKey?: boolean): BerthError;
}

/** ERECIPE `LOCATION: PATH: message`. */
function locatedError(l: SourceLocation, p: readonly PathElem[], message: string): BerthError {
  const where = formatPath(p);
  const position = l.line === undefined ? {} : { line: l.line, column: l.column };
  return new BerthError('ERECIPE', `${formatLocation(l)}: ${where ? `${where}: ` : ''}${message}`, {
    details: { file: l.file, ...position, path: where },
  });
}

/** A recipe given as an object: paths only. */
class PathLocator implements Locator {
  constructor(readonly file: string) {}

  at(): SourceLocation {
    return { file: this.file };
  }

  error(p: readonly PathElem[], message: string): BerthError {
    return locatedError(this.at(), p, message);
  }
}

/** Maps recipe paths to source positions in the YAML text. */
class YamlLocator implements Locator {
  constructor(
    private readonly doc: Document,
    private readonly lines: LineCounter,
    readonly file: string,
  ) {}

  /** The position of the value at `p` (or of its key with `atKey`), falling back to the nearest existing parent. */
  at(p: readonly PathElem[], atKey = false): SourceLocation {
    const { isMap, isPair, isScalar, isSeq } = yaml();
    let node: unknown = this.doc.contents;
    let best: [number, number] | undefined = rangeOf(node);
    for (let i = 0; i < p.length; i++) {
      const k = p[i] as PathElem;
      if (isMap(node)) {
        const pair = node.items.find((it) => isPair(it) && isScalar(it.key) && String(it.key.value) === String(k));
        if (!pair) break;
        if (atKey && i === p.length - 1) {
          best = rangeOf(pair.key) ?? best;
          break;
        }
        node = pair.value;
      } else if (isSeq(node) && typeof k === 'number') {
        node = node.items[k];
      } else break;
      best = rangeOf(node) ?? best;
    }
    const pos = this.lines.linePos(best?.[0] ?? 0);
    return { file: this.file, line: pos.line, column: pos.col };
  }

  error(p: readonly PathElem[], message: string, atKey = false): BerthError {
    return locatedError(this.at(p, atKey), p, message);
  }
}

function rangeOf(node: unknown): [number, number] | undefined {
  const r = (node as YamlNode | undefined)?.range;
  return r ? [r[0], r[1]] : undefined;
}

const str = (v: string | number | boolean): string => String(v);
const strMap = (m: Record<string, string | number | boolean> | undefined): Record<string, string> =>
  Object.fromEntries(Object.entries(m ?? {}).map(([k, v]) => [k, str(v)]));
const list = (v: string | string[]): string[] => (Array.isArray(v) ? v : [v]);
const shellForm = (v: string | string[]): string[] => (Array.isArray(v) ? v : ['/bin/sh', '-c', v]);

function normalise(doc: RecipeDocument, loc: Locator): Recipe {
  const argLocations: Record<string, SourceLocation> = {};
  for (const k of Object.keys(doc.args ?? {})) argLocations[k] = loc.at(['args', k]);
  const named = new Map<string, RecipeStage>();
  for (const [name, s] of Object.entries(doc.stages ?? {})) {
    if (name === 'scratch') throw loc.error(['stages', name], 'a stage cannot be named "scratch"', true);
    named.set(name, makeStage(loc, ['stages', name], s.from, s.args, s.steps ?? [], name));
  }
  const final = makeStage(loc, [], doc.from, undefined, doc.steps ?? [], undefined);

  // Check stage references and order stages so each comes after what it needs.
  const deps = (s: RecipeStage): Array<{ name: string; where: PathElem[] }> => {
    const out: Array<{ name: string; where: PathElem[] }> = [];
    const base = s.name === undefined ? [] : ['stages', s.name];
    if (named.has(s.from)) out.push({ name: s.from, where: [...base, 'from'] });
    for (const st of s.steps) {
      if (st.kind === 'copy' && st.from !== undefined) {
        const where = [...base, 'steps', st.index, 'copy', 'from'];
        if (!named.has(st.from)) throw loc.error(where, `no stage named ${JSON.stringify(st.from)}${named.size ? ` (stages: ${[...named.keys()].join(', ')})` : ''}`);
        out.push({ name: st.from, where });
      }
    }
    return out;
  };
  const ordered: RecipeStage[] = [];
  const state = new Map<string, 'visiting' | 'done'>();
  const visit = (s: RecipeStage, where: PathElem[]): void => {
    const key = s.name ?? '';
    const st = state.get(key);
    if (st === 'done') return;
    if (st === 'visiting') throw loc.error(where, `stage ${JSON.stringify(s.name)} depends on itself`);
    state.set(key, 'visiting');
    for (const d of deps(s)) visit(named.get(d.name) as RecipeStage, d.where);
    state.set(key, 'done');
    if (s.name !== undefined) ordered.push(s);
  };
  for (const s of named.values()) visit(s, ['stages', s.name as string]);
  visit(final, []);

  const recipe: Recipe = { file: loc.file, args: strMap(doc.args), argLocations, stages: ordered, final };
  if (doc.entrypoint !== undefined) recipe.entrypoint = shellForm(doc.entrypoint);
  if (doc.cmd !== undefined) recipe.cmd = shellForm(doc.cmd);
  if (doc.stopsignal !== undefined) recipe.stopsignal = String(doc.stopsignal);
  return recipe;
}

function makeStage(
  loc: Locator,
  base: PathElem[],
  from: string,
  args: Record<string, string | number | boolean> | undefined,
  steps: StepDocument[],
  name: string | undefined,
): RecipeStage {
  const prefix = base.length ? `${formatPath(base)}.` : '';
  const stage: RecipeStage = {
    from,
    fromLocation: loc.at([...base, 'from']),
    args: strMap(args),
    steps: steps.map((s, index) => makeStep(loc, [...base, 'steps', index], s, index)),
    pathPrefix: prefix,
  };
  if (name !== undefined) stage.name = name;
  return stage;
}

function makeStep(loc: Locator, at: PathElem[], s: StepDocument, index: number): RecipeStep {
  const kind = STEP_KINDS.find((k) => Object.hasOwn(s, k)) as StepKind;
  const where = [...at, kind];
  const common = { index, path: formatPath(where), location: loc.at(where) };
  switch (kind) {
    case 'run': {
      const r = s as { run: string | string[]; env?: Record<string, string | number | boolean> };
      return { ...common, kind, command: r.run, env: strMap(r.env) };
    }
    case 'copy': {
      const c = (s as { copy: { src: string | string[]; dest: string; chown?: string | number; chmod?: string; from?: string } }).copy;
      const step: CopyStep = { ...common, kind, src: list(c.src), dest: c.dest };
      if (c.chown !== undefined) step.chown = String(c.chown);
      if (c.chmod !== undefined) step.chmod = c.chmod;
      if (c.from !== undefined) step.from = c.from;
      return step;
    }
    case 'env':
      return { ...common, kind, env: strMap((s as { env: Record<string, string | number | boolean> }).env) };
    case 'workdir':
      return { ...common, kind, workdir: (s as { workdir: string }).workdir };
    case 'user':
      return { ...common, kind, user: String((s as { user: string | number }).user) };
    case 'label':
      return { ...common, kind, labels: strMap((s as { label: Record<string, string | number | boolean> }).label) };
    case 'expose': {
      const e = (s as { expose: number | string | Array<number | string> }).expose;
      return { ...common, kind, ports: (Array.isArray(e) ? e : [e]).map((p) => (/\//.test(String(p)) ? String(p) : `${p}/tcp`)) };
    }
    case 'volume':
      return { ...common, kind, volumes: list((s as { volume: string | string[] }).volume) };
  }
}
