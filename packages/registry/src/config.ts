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
type Zod = typeof import('zod');

function buildConfigSchema(z: Zod['z']) {
  const host = z.strictObject({
    mirrors: z
      .array(
        z.string().refine(isHttpUrl, { message: 'must be an http:// or https:// URL with no path, query or credentials' }),
      )
      .optional(),
    insecure: z.boolean().optional(),
    ca: z.string().min(1).optional(),
  });
  return z.looseObject({
    registries: z.record(z.string().min(1), host.nullable()).nullable().optional(),
  });
}

interface Parsers {
  parseYaml: Yaml['parse'];
  schema: ReturnType<typeof buildConfigSchema>;
}

/**
 * yaml and zod are loaded on first use: most runs have no config file, and
 * they cost about 0.2 s of CPU to load. loadRegistryConfig imports them
 * (a bundler can split them off); the synchronous parseRegistryConfig
 * requires them if nothing has loaded them yet.
 */
let parsers: Parsers | undefined;

function makeParsers(yaml: Yaml, zod: Zod): Parsers {
  return { parseYaml: yaml.parse, schema: buildConfigSchema(zod.z) };
}

async function loadParsers(): Promise<Parsers> {
  if (!parsers) {
    const [yamlModule, zod] = await Promise.all([import('yaml'), import('zod')]);
    // yaml is CommonJS: node's import() also names its exports, a bundler's may give only `default`.
    const yaml = (yamlModule as { default?: Yaml }).default ?? yamlModule;
    parsers ??= makeParsers(yaml, zod);
  }
  return parsers;
}

function parsersSync(): Parsers {
  if (!parsers) {
    const require = createRequire(import.meta.url);
    parsers = makeParsers(require('yaml') as Yaml, require('zod') as Zod);
  }
  return parsers;
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
    return parseWith(await loadParsers(), text, file);
  }
  return { registries: {} };
}

/** Parse config YAML text; `file` is named in errors. */
export function parseRegistryConfig(text: string, file = 'config'): RegistryConfig {
  return parseWith(parsersSync(), text, file);
}

function parseWith({ parseYaml, schema }: Parsers, text: string, file: string): RegistryConfig {
  let doc: unknown;
  try {
    doc = parseYaml(text, { prettyErrors: false });
  } catch (err) {
    throw new BerthError('EINVAL_ARGUMENT', `registry config ${file}: invalid YAML: ${oneLine((err as Error).message)}`, { cause: err });
  }
  if (doc === null || doc === undefined) return { registries: {} };
  const result = schema.safeParse(doc);
  if (!result.success) {
    const issue = result.error.issues[0];
    const where = issue ? formatKey(issue.path) : '';
    let why = issue?.message ?? 'invalid';
    if (issue?.code === 'unrecognized_keys') why = `unknown key ${issue.keys.map((k) => JSON.stringify(k)).join(', ')}`;
    throw new BerthError('EINVAL_ARGUMENT', `registry config ${file}: ${where ? `${where}: ` : ''}${why}`, { cause: result.error });
  }
  const registries: Record<string, RegistryHostConfig> = {};
  for (const [host, cfg] of Object.entries(result.data.registries ?? {})) {
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
