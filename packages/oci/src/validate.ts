/**
 * Validation of manifests, indexes, image configs and descriptors without zod.
 *
 * `schema.ts` declares the same shapes as zod schemas (public API, used by
 * other packages to compose their own). Loading zod and building those schemas
 * costs about 0.1 s of CPU, which every `berth pull` would pay for parsing
 * three small JSON documents; the checks below accept and reject exactly what
 * the zod schemas do, with the same first issue (path and message), and
 * `validate.test.ts` holds them to that on thousands of generated documents.
 * Keep the two in step: a change to a schema in `schema.ts` needs the same
 * change here (the differential test fails otherwise).
 */
import { Digest } from './digest.js';
import { BerthError, type ErrorCode } from './errors.js';
import type { ImageConfig, Index, Manifest } from './schema.js';

/** Manifests and indexes larger than this are refused (the distribution spec's recommended limit). */
export const MAX_MANIFEST_BYTES = 4 * 1024 * 1024;
/** Image configs may carry long histories; still bounded. */
export const MAX_CONFIG_BYTES = 8 * 1024 * 1024;

/** The first problem found in a value: where (`layers[0].digest` as `['layers', 0, 'digest']`) and what. */
export interface ValidationIssue {
  path: (string | number)[];
  message: string;
}

type Path = (string | number)[];
type Check = (value: unknown, path: Path) => ValidationIssue | undefined;

/** How zod names what it got ("received array", "received null", "received Date"). */
function received(v: unknown): string {
  if (typeof v === 'number') {
    if (Number.isNaN(v)) return 'NaN';
    if (v === Infinity) return 'Infinity';
    if (v === -Infinity) return '-Infinity';
    return 'number';
  }
  if (typeof v === 'object') {
    if (v === null) return 'null';
    if (Array.isArray(v)) return 'array';
    const proto: unknown = Object.getPrototypeOf(v);
    const ctor = (v as { constructor?: { name?: unknown } }).constructor;
    if (proto !== Object.prototype && ctor && typeof ctor.name === 'string') return ctor.name;
    return 'object';
  }
  return typeof v;
}

const issue = (path: Path, message: string): ValidationIssue => ({ path: [...path], message });
const expected = (path: Path, what: string, v: unknown): ValidationIssue => issue(path, `Invalid input: expected ${what}, received ${received(v)}`);

const str: Check = (v, p) => (typeof v === 'string' ? undefined : expected(p, 'string', v));
const nonEmptyStr: Check = (v, p) => (typeof v !== 'string' ? expected(p, 'string', v) : v.length < 1 ? issue(p, 'Too small: expected string to have >=1 characters') : undefined);
const bool: Check = (v, p) => (typeof v === 'boolean' ? undefined : expected(p, 'boolean', v));
const digestStr: Check = (v, p) => (typeof v !== 'string' ? expected(p, 'string', v) : Digest.isValid(v) ? undefined : issue(p, 'not a valid digest'));

/** `z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER)`. */
const size: Check = (v, p) => {
  if (typeof v !== 'number' || !Number.isFinite(v)) return expected(p, 'number', v);
  if (!Number.isInteger(v)) return issue(p, 'Invalid input: expected int, received number');
  if (v > Number.MAX_SAFE_INTEGER) return issue(p, `Too big: expected int to be <=${Number.MAX_SAFE_INTEGER}`);
  if (v < Number.MIN_SAFE_INTEGER) return issue(p, `Too small: expected int to be >=${Number.MIN_SAFE_INTEGER}`);
  if (v < 0) return issue(p, 'Too small: expected number to be >=0');
  return undefined;
};

const literal =
  (want: string | number): Check =>
  (v, p) =>
    v === want ? undefined : issue(p, `Invalid input: expected ${JSON.stringify(want)}`);

const optional =
  (check: Check): Check =>
  (v, p) =>
    v === undefined ? undefined : check(v, p);
const nullable =
  (check: Check): Check =>
  (v, p) =>
    v === null ? undefined : check(v, p);

const arrayOf =
  (item: Check): Check =>
  (v, p) => {
    if (!Array.isArray(v)) return expected(p, 'array', v);
    for (let i = 0; i < v.length; i++) {
      const found = item(v[i], [...p, i]);
      if (found) return found;
    }
    return undefined;
  };

function isPlainObject(v: unknown): v is Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return false;
  const proto: unknown = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
}

const recordOf =
  (value: Check): Check =>
  (v, p) => {
    if (!isPlainObject(v)) return expected(p, 'record', v);
    for (const k of Object.keys(v)) {
      const found = value(v[k], [...p, k]);
      if (found) return found;
    }
    return undefined;
  };

/**
 * `z.record(z.string(), z.object({}))`: any objects as values, emptied as zod's
 * strip mode does (`ExposedPorts: {"80/tcp": {}}`).
 */
const recordOfEmptyObjects: Check = (v, p) => {
  if (!isPlainObject(v)) return expected(p, 'record', v);
  for (const k of Object.keys(v)) {
    const item = v[k];
    if (typeof item !== 'object' || item === null || Array.isArray(item)) return expected([...p, k], 'object', item);
    if (Object.keys(item).length > 0) v[k] = {};
  }
  return undefined;
};

/** `z.looseObject(shape)`: each key of the shape in order; other keys are kept. */
const looseObject =
  (shape: Record<string, Check>): Check =>
  (v, p) => {
    if (typeof v !== 'object' || v === null || Array.isArray(v)) return expected(p, 'object', v);
    const o = v as Record<string, unknown>;
    for (const [k, check] of Object.entries(shape)) {
      const found = check(o[k], [...p, k]);
      if (found) return found;
    }
    return undefined;
  };

const stringArray = arrayOf(str);
const annotations = recordOf(str);

const platform = looseObject({
  architecture: nonEmptyStr,
  os: nonEmptyStr,
  'os.version': optional(str),
  'os.features': optional(stringArray),
  variant: optional(str),
  features: optional(stringArray),
});

const descriptor = looseObject({
  mediaType: nonEmptyStr,
  digest: digestStr,
  size,
  urls: optional(stringArray),
  annotations: optional(annotations),
  platform: optional(platform),
  artifactType: optional(str),
  data: optional(str),
});

const manifest = looseObject({
  schemaVersion: literal(2),
  mediaType: optional(str),
  artifactType: optional(str),
  config: descriptor,
  layers: arrayOf(descriptor),
  subject: optional(descriptor),
  annotations: optional(annotations),
});

const index = looseObject({
  schemaVersion: literal(2),
  mediaType: optional(str),
  artifactType: optional(str),
  manifests: arrayOf(descriptor),
  subject: optional(descriptor),
  annotations: optional(annotations),
});

const stringOrNullArray = optional(nullable(stringArray));

const containerConfig = looseObject({
  User: optional(str),
  ExposedPorts: optional(nullable(recordOfEmptyObjects)),
  Env: stringOrNullArray,
  Entrypoint: stringOrNullArray,
  Cmd: stringOrNullArray,
  Volumes: optional(nullable(recordOfEmptyObjects)),
  WorkingDir: optional(str),
  Labels: optional(nullable(recordOf(str))),
  StopSignal: optional(str),
  ArgsEscaped: optional(bool),
});

const history = looseObject({
  created: optional(str),
  author: optional(str),
  created_by: optional(str),
  comment: optional(str),
  empty_layer: optional(bool),
});

const imageConfig = looseObject({
  created: optional(str),
  author: optional(str),
  architecture: nonEmptyStr,
  os: nonEmptyStr,
  'os.version': optional(str),
  'os.features': optional(stringArray),
  variant: optional(str),
  config: optional(nullable(containerConfig)),
  rootfs: looseObject({
    type: literal('layers'),
    diff_ids: arrayOf(digestStr),
  }),
  history: optional(arrayOf(history)),
});

/** @internal The checks by name, for the differential test against the zod schemas. */
export const checks = { platform, descriptor, manifest, index, containerConfig, history, imageConfig } as const;

/**
 * The first problem of a descriptor (what `DescriptorSchema` would report
 * first), or undefined when it is valid.
 */
export function validateDescriptor(value: unknown): ValidationIssue | undefined {
  return descriptor(value, []);
}

/** `layers[0].digest` from `['layers', 0, 'digest']`. */
export function formatIssuePath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const p of path) {
    if (typeof p === 'number') out += `[${p}]`;
    else out += out ? `.${String(p)}` : String(p);
  }
  return out;
}

export interface CheckedParseOptions {
  /** Named in errors, e.g. "manifest sha256:… of docker.io/library/alpine:latest". */
  what: string;
  maxBytes?: number;
  code?: ErrorCode;
}

/** Bounded JSON.parse of untrusted bytes with one-line errors (the same ones parseJson gives). */
export function parseBoundedJson(bytes: Uint8Array | string, options: CheckedParseOptions): unknown {
  const code = options.code ?? 'EINVAL_MANIFEST';
  const max = options.maxBytes ?? MAX_MANIFEST_BYTES;
  const length = typeof bytes === 'string' ? Buffer.byteLength(bytes) : bytes.byteLength;
  if (length > max) {
    throw new BerthError('ETOO_LARGE', `${options.what}: ${length} bytes exceeds the ${max}-byte limit`);
  }
  try {
    return JSON.parse(typeof bytes === 'string' ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8'));
  } catch (err) {
    throw new BerthError(code, `${options.what}: invalid JSON: ${(err as Error).message}`, { cause: err });
  }
}

function parseChecked(bytes: Uint8Array | string, check: Check, options: CheckedParseOptions): unknown {
  const value = parseBoundedJson(bytes, options);
  const found = check(value, []);
  if (found) {
    const where = found.path.length > 0 ? `${formatIssuePath(found.path)}: ` : '';
    throw new BerthError(options.code ?? 'EINVAL_MANIFEST', `${options.what}: ${where}${found.message}`);
  }
  return value;
}

/** Parse an image manifest (OCI or Docker schema 2). */
export function parseManifest(bytes: Uint8Array | string, what = 'manifest'): Manifest {
  return parseChecked(bytes, manifest, { what }) as Manifest;
}

/**
 * Parse an image index (OCI index or Docker manifest list). `options` changes
 * the error code and the size limit (e.g. for a layout's own `index.json`).
 */
export function parseIndex(bytes: Uint8Array | string, what = 'index', options: { code?: ErrorCode; maxBytes?: number } = {}): Index {
  return parseChecked(bytes, index, { what, ...options }) as Index;
}

/** Parse an image configuration. */
export function parseImageConfig(bytes: Uint8Array | string, what = 'image config'): ImageConfig {
  return parseChecked(bytes, imageConfig, { what, code: 'EINVAL_CONFIG', maxBytes: MAX_CONFIG_BYTES }) as ImageConfig;
}

/** Canonical bytes for a manifest/index/config berth writes itself (stable key order as given). */
export function encodeJson(value: unknown): Buffer {
  return Buffer.from(JSON.stringify(value));
}

/** The chain ID of a layer stack from its diff IDs (OCI image spec, config.md). */
export function chainIds(diffIds: readonly string[]): Digest[] {
  const out: Digest[] = [];
  let chain: Digest | undefined;
  for (const d of diffIds) {
    const diff = Digest.parse(d);
    chain = chain ? Digest.of(`${chain} ${diff}`) : diff;
    out.push(chain);
  }
  return out;
}

export function chainId(diffIds: readonly string[]): Digest | undefined {
  return chainIds(diffIds).at(-1);
}
