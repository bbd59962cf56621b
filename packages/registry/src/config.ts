import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { BerthError } from '@berth/oci';

/** Per-registry settings from the berth config file. */
export interface RegistryHostConfig {
  /** Pull-through mirrors tried in order before the registry itself, e.g. `http://127.0.0.1:5000`. Never used for push. */
  mirrors?: string[];
  /** Allow plain HTTP, and HTTPS without certificate verification (like docker's `insecure-registries`). */
  insecure?: boolean;
  /** A PEM CA bundle to trust for this registry: a file path, or the PEM text itself. */
  ca?: string;
}

export interface RegistryConfig {
  /** Keyed by registry host[:port] as it appears in references (`docker.io`, `myreg:5000`). */
  registries: Record<string, RegistryHostConfig>;
}

export const SYSTEM_CONFIG_PATH = '/etc/berth/config.yaml';

type Yaml = typeof import('yaml');

/**
 * yaml is loaded on first use, and only for a file with something in it: most runs have no
 * config file. The file is checked by `checkConfig` below, not by a zod schema: loading zod
 * cost every pull with a config file (every mirror user) about 70 ms. loadRegistryConfig
 * imports yaml (a bundler can split it off); the synchronous parseRegistryConfig requires it.
 */
let yamlParse: Yaml['parse'] | undefined;

async function loadYaml(): Promise<Yaml['parse']> {
  if (!yamlParse) {
    const yamlModule = await import('yaml');
    // yaml is CommonJS: node's import() also names its exports, a bundler's may give only `default`.
    yamlParse ??= ((yamlModule as { default?: Yaml }).default ?? yamlModule).parse;
  }
  return yamlParse;
}

function yamlSync(): Yaml['parse'] {
  yamlParse ??= (createRequire(import.meta.url)('yaml') as Yaml).parse;
  return yamlParse;
}

/** Only blank lines and comments: nothing for yaml to parse (it would give null). */
const isEmptyYaml = (text: string): boolean => text.split('\n').every((line) => /^\s*(?:#.*)?$/.test(line));

/** The first problem found in a config document: where (keys, indexes), what, and the unknown keys if that is the problem. */
interface ConfigIssue {
  path: (string | number)[];
  message: string;
  unknownKeys?: string[];
}

/** The name zod gives a value's type in "expected X, received Y" (its messages are the file format's errors). */
function typeName(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  if (typeof v === 'number' && Number.isNaN(v)) return 'nan';
  return typeof v;
}

const isPlainObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const expected = (what: string, v: unknown) => `Invalid input: expected ${what}, received ${typeName(v)}`;
const HOST_KEYS = new Set(['mirrors', 'insecure', 'ca']);

/**
 * Checks a parsed config document: `registries` (optional, may be null) maps non-empty host
 * names to null or `{mirrors?: http(s) URLs, insecure?: boolean, ca?: non-empty string}`, no
 * other keys; other top-level keys are ignored. The first issue, in the order and words of the
 * zod schema this replaced (config.test.ts holds the two to each other).
 */
export function checkConfig(doc: unknown): ConfigIssue | undefined {
  if (!isPlainObject(doc)) return { path: [], message: expected('object', doc) };
  const registries = doc['registries'];
  if (registries === undefined || registries === null) return undefined;
  if (!isPlainObject(registries)) return { path: ['registries'], message: expected('record', registries) };
  for (const [host, cfg] of Object.entries(registries)) {
    const at = ['registries', host];
    if (host.length === 0) return { path: at, message: 'Invalid key in record' };
    if (cfg === null) continue;
    if (!isPlainObject(cfg)) return { path: at, message: expected('object', cfg) };
    const { mirrors, insecure, ca } = cfg;
    if (mirrors !== undefined) {
      if (!Array.isArray(mirrors)) return { path: [...at, 'mirrors'], message: expected('array', mirrors) };
      for (const [i, m] of mirrors.entries()) {
        if (typeof m !== 'string') return { path: [...at, 'mirrors', i], message: expected('string', m) };
        if (!isHttpUrl(m)) return { path: [...at, 'mirrors', i], message: 'must be an http:// or https:// URL with no path, query or credentials' };
      }
    }
    if (insecure !== undefined && typeof insecure !== 'boolean') return { path: [...at, 'insecure'], message: expected('boolean', insecure) };
    if (ca !== undefined) {
      if (typeof ca !== 'string') return { path: [...at, 'ca'], message: expected('string', ca) };
      if (ca.length === 0) return { path: [...at, 'ca'], message: 'Too small: expected string to have >=1 characters' };
    }
    const unknown = Object.keys(cfg).filter((k) => !HOST_KEYS.has(k));
    if (unknown.length > 0) return { path: at, message: `Unrecognized keys: ${unknown.map((k) => JSON.stringify(k)).join(', ')}`, unknownKeys: unknown };
  }
  return undefined;
}

function isHttpUrl(s: string): boolean {
  let u: URL;
  try {
    u = new URL(s);
  } catch {
    return false;
  }
  return (
    (u.protocol === 'http:' || u.protocol === 'https:') &&
    (u.pathname === '/' || u.pathname === '') &&
    u.search === '' &&
    u.hash === '' &&
    u.username === '' &&
    u.password === ''
  );
}

/** `index.docker.io` and `registry-1.docker.io` are docker.io; hosts compare case-insensitively. */
export function normaliseRegistryHost(host: string): string {
  const h = host.toLowerCase();
  if (h === 'index.docker.io' || h === 'registry-1.docker.io') return 'docker.io';
  return h;
}

/** Which config file applies: explicit path, `BERTH_CONFIG`, `/etc/berth/config.yaml`, then `$XDG_CONFIG_HOME/berth/config.yaml`. */
export function registryConfigPaths(opts: { path?: string; env?: NodeJS.ProcessEnv } = {}): string[] {
  const env = opts.env ?? process.env;
  if (opts.path) return [opts.path];
  if (env['BERTH_CONFIG']) return [env['BERTH_CONFIG']];
  const xdg = env['XDG_CONFIG_HOME'] || join(env['HOME'] || homedir(), '.config');
  return [SYSTEM_CONFIG_PATH, join(xdg, 'berth', 'config.yaml')];
}

/**
 * Load registry settings. The first existing file of {@link registryConfigPaths}
 * is used; no file at all means an empty config. A file that exists but is not
 * valid fails with one EINVAL_ARGUMENT line naming the file and the key.
 */
export async function loadRegistryConfig(opts: { path?: string; env?: NodeJS.ProcessEnv } = {}): Promise<RegistryConfig> {
  for (const file of registryConfigPaths(opts)) {
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'ENOTDIR') continue;
      throw BerthError.wrap(`read registry config ${file}`, err, 'EINVAL_ARGUMENT');
    }
    return parseWith(isEmptyYaml(text) ? undefined : await loadYaml(), text, file);
  }
  return { registries: {} };
}

/** Parse config YAML text; `file` is named in errors. */
export function parseRegistryConfig(text: string, file = 'config'): RegistryConfig {
  return parseWith(isEmptyYaml(text) ? undefined : yamlSync(), text, file);
}

/** `parseYaml` undefined: the text has nothing to parse (isEmptyYaml). */
function parseWith(parseYaml: Yaml['parse'] | undefined, text: string, file: string): RegistryConfig {
  let doc: unknown;
  try {
    doc = parseYaml?.(text, { prettyErrors: false });
  } catch (err) {
    throw new BerthError('EINVAL_ARGUMENT', `registry config ${file}: invalid YAML: ${oneLine((err as Error).message)}`, { cause: err });
  }
  if (doc === null || doc === undefined) return { registries: {} };
  const issue = checkConfig(doc);
  if (issue) {
    const where = formatKey(issue.path);
    const why = issue.unknownKeys ? `unknown key ${issue.unknownKeys.map((k) => JSON.stringify(k)).join(', ')}` : issue.message;
    throw new BerthError('EINVAL_ARGUMENT', `registry config ${file}: ${where ? `${where}: ` : ''}${why}`);
  }
  const checked = doc as { registries?: Record<string, RegistryHostConfig | null> | null };
  const registries: Record<string, RegistryHostConfig> = {};
  for (const [host, cfg] of Object.entries(checked.registries ?? {})) {
    const out: RegistryHostConfig = {};
    if (cfg?.mirrors) out.mirrors = cfg.mirrors.map((m) => new URL(m).origin);
    if (cfg?.insecure !== undefined) out.insecure = cfg.insecure;
    if (cfg?.ca !== undefined) out.ca = cfg.ca;
    registries[normaliseRegistryHost(host)] = out;
  }
  return { registries };
}

function formatKey(path: readonly PropertyKey[]): string {
  let out = '';
  for (const p of path) {
    if (typeof p === 'number') out += `[${p}]`;
    else {
      const s = String(p);
      const part = /^[A-Za-z_][\w-]*$/.test(s) ? s : JSON.stringify(s);
      out += out ? `.${part}` : part;
    }
  }
  return out;
}

function oneLine(s: string): string {
  return s.replace(/\s+/g, ' ').trim();
}
