import { z } from 'zod';
import { Digest } from './digest.js';
import { BerthError, type ErrorCode } from './errors.js';

/** Manifests and indexes larger than this are refused (the distribution spec's recommended limit). */
export const MAX_MANIFEST_BYTES = 4 * 1024 * 1024;
/** Image configs may carry long histories; still bounded. */
export const MAX_CONFIG_BYTES = 8 * 1024 * 1024;

const digestString = z.string().refine(Digest.isValid, { message: 'not a valid digest' });
const annotations = z.record(z.string(), z.string());

export const PlatformSchema = z.looseObject({
  architecture: z.string().min(1),
  os: z.string().min(1),
  'os.version': z.string().optional(),
  'os.features': z.array(z.string()).optional(),
  variant: z.string().optional(),
  features: z.array(z.string()).optional(),
});

export const DescriptorSchema = z.looseObject({
  mediaType: z.string().min(1),
  digest: digestString,
  size: z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER),
  urls: z.array(z.string()).optional(),
  annotations: annotations.optional(),
  platform: PlatformSchema.optional(),
  artifactType: z.string().optional(),
  data: z.string().optional(),
});

export const ManifestSchema = z.looseObject({
  schemaVersion: z.literal(2),
  mediaType: z.string().optional(),
  artifactType: z.string().optional(),
  config: DescriptorSchema,
  layers: z.array(DescriptorSchema),
  subject: DescriptorSchema.optional(),
  annotations: annotations.optional(),
});

export const IndexSchema = z.looseObject({
  schemaVersion: z.literal(2),
  mediaType: z.string().optional(),
  artifactType: z.string().optional(),
  manifests: z.array(DescriptorSchema),
  subject: DescriptorSchema.optional(),
  annotations: annotations.optional(),
});

const stringOrNullArray = z.array(z.string()).nullable().optional();

export const ContainerConfigSchema = z.looseObject({
  User: z.string().optional(),
  ExposedPorts: z.record(z.string(), z.object({})).nullable().optional(),
  Env: stringOrNullArray,
  Entrypoint: stringOrNullArray,
  Cmd: stringOrNullArray,
  Volumes: z.record(z.string(), z.object({})).nullable().optional(),
  WorkingDir: z.string().optional(),
  Labels: z.record(z.string(), z.string()).nullable().optional(),
  StopSignal: z.string().optional(),
  ArgsEscaped: z.boolean().optional(),
});

export const HistorySchema = z.looseObject({
  created: z.string().optional(),
  author: z.string().optional(),
  created_by: z.string().optional(),
  comment: z.string().optional(),
  empty_layer: z.boolean().optional(),
});

export const ImageConfigSchema = z.looseObject({
  created: z.string().optional(),
  author: z.string().optional(),
  architecture: z.string().min(1),
  os: z.string().min(1),
  'os.version': z.string().optional(),
  'os.features': z.array(z.string()).optional(),
  variant: z.string().optional(),
  config: ContainerConfigSchema.nullable().optional(),
  rootfs: z.looseObject({
    type: z.literal('layers'),
    diff_ids: z.array(digestString),
  }),
  history: z.array(HistorySchema).optional(),
});

export type Platform = z.infer<typeof PlatformSchema>;
export type Descriptor = z.infer<typeof DescriptorSchema>;
export type Manifest = z.infer<typeof ManifestSchema>;
export type Index = z.infer<typeof IndexSchema>;
export type ContainerConfig = z.infer<typeof ContainerConfigSchema>;
export type History = z.infer<typeof HistorySchema>;
export type ImageConfig = z.infer<typeof ImageConfigSchema>;

export interface ParseOptions {
  /** Named in errors, e.g. "manifest sha256:… of docker.io/library/alpine:latest". */
  what: string;
  maxBytes?: number;
}

/**
 * Parse untrusted JSON bytes against a schema. Errors are one line naming what
 * was parsed and the first problem's path: `manifest …: layers[0].digest: not a valid digest`.
 */
export function parseJson<S extends z.ZodType>(bytes: Uint8Array | string, schema: S, options: ParseOptions & { code?: ErrorCode }): z.infer<S> {
  const code = options.code ?? 'EINVAL_MANIFEST';
  const max = options.maxBytes ?? MAX_MANIFEST_BYTES;
  const length = typeof bytes === 'string' ? Buffer.byteLength(bytes) : bytes.byteLength;
  if (length > max) {
    throw new BerthError('ETOO_LARGE', `${options.what}: ${length} bytes exceeds the ${max}-byte limit`);
  }
  let value: unknown;
  try {
    value = JSON.parse(typeof bytes === 'string' ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8'));
  } catch (err) {
    throw new BerthError(code, `${options.what}: invalid JSON: ${(err as Error).message}`, { cause: err });
  }
  const result = schema.safeParse(value);
  if (!result.success) {
    const issue = result.error.issues[0];
    const where = issue && issue.path.length > 0 ? `${formatPath(issue.path)}: ` : '';
    throw new BerthError(code, `${options.what}: ${where}${issue?.message ?? 'invalid'}`, { cause: result.error });
  }
  return result.data as z.infer<S>;
}

function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const p of path) {
    if (typeof p === 'number') out += `[${p}]`;
    else out += out ? `.${String(p)}` : String(p);
  }
  return out;
}

/** Parse an image manifest (OCI or Docker schema 2). */
export function parseManifest(bytes: Uint8Array | string, what = 'manifest'): Manifest {
  return parseJson(bytes, ManifestSchema, { what });
}

/** Parse an image index (OCI index or Docker manifest list). */
export function parseIndex(bytes: Uint8Array | string, what = 'index'): Index {
  return parseJson(bytes, IndexSchema, { what });
}

/** Parse an image configuration. */
export function parseImageConfig(bytes: Uint8Array | string, what = 'image config'): ImageConfig {
  return parseJson(bytes, ImageConfigSchema, { what, code: 'EINVAL_CONFIG', maxBytes: MAX_CONFIG_BYTES });
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
