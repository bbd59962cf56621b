/**
 * The OCI shapes as zod schemas (public: other packages compose them into
 * their own schemas), their types, and parseJson for any zod schema.
 * berth's own parsing of manifests, indexes and configs does not load zod:
 * see validate.ts, which must accept and reject exactly what these do.
 */
import { z } from 'zod';
import { Digest } from './digest.js';
import { BerthError, type ErrorCode } from './errors.js';
import { formatIssuePath, parseBoundedJson } from './validate.js';

/**
 * Runs `build` (once, at load). The schemas are built through it, marked pure,
 * so that a bundler can leave out every schema, and zod with them, from code
 * that never uses one (berth's CLI bundle: `berth pull` does not load zod).
 */
function define<T>(build: () => T): T {
  return build();
}

const digestString = /* @__PURE__ */ define(() =>
  z.string().refine(Digest.isValid, { message: 'not a valid digest' }),
);
const annotations = /* @__PURE__ */ define(() =>
  z.record(z.string(), z.string()),
);

export const PlatformSchema = /* @__PURE__ */ define(() =>
  z.looseObject({
    architecture: z.string().min(1),
    os: z.string().min(1),
    'os.version': z.string().optional(),
    'os.features': z.array(z.string()).optional(),
    variant: z.string().optional(),
    features: z.array(z.string()).optional(),
  }),
);

export const DescriptorSchema = /* @__PURE__ */ define(() =>
  z.looseObject({
    mediaType: z.string().min(1),
    digest: digestString,
    size: z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER),
    urls: z.array(z.string()).optional(),
    annotations: annotations.optional(),
    platform: PlatformSchema.optional(),
    artifactType: z.string().optional(),
    data: z.string().optional(),
  }),
);

export const ManifestSchema = /* @__PURE__ */ define(() =>
  z.looseObject({
    schemaVersion: z.literal(2),
    mediaType: z.string().optional(),
    artifactType: z.string().optional(),
    config: DescriptorSchema,
    layers: z.array(DescriptorSchema),
    subject: DescriptorSchema.optional(),
    annotations: annotations.optional(),
  }),
);

export const IndexSchema = /* @__PURE__ */ define(() =>
  z.looseObject({
    schemaVersion: z.literal(2),
    mediaType: z.string().optional(),
    artifactType: z.string().optional(),
    manifests: z.array(DescriptorSchema),
    subject: DescriptorSchema.optional(),
    annotations: annotations.optional(),
  }),
);

const stringOrNullArray = /* @__PURE__ */ define(() =>
  z.array(z.string()).nullable().optional(),
);

export const ContainerConfigSchema = /* @__PURE__ */ define(() =>
  z.looseObject({
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
  }),
);

export const HistorySchema = /* @__PURE__ */ define(() =>
  z.looseObject({
    created: z.string().optional(),
    author: z.string().optional(),
    created_by: z.string().optional(),
    comment: z.string().optional(),
    empty_layer: z.boolean().optional(),
  }),
);

export const ImageConfigSchema = /* @__PURE__ */ define(() =>
  z.looseObject({
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
  }),
);

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
  const value = parseBoundedJson(bytes, options);
  const result = schema.safeParse(value);
  if (!result.success) {
    const issue = result.error.issues[0];
    const where = issue && issue.path.length > 0 ? `${formatIssuePath(issue.path)}: ` : '';
    throw new BerthError(code, `${options.what}: ${where}${issue?.message ?? 'invalid'}`, { cause: result.error });
  }
  return result.data as z.infer<S>;
}
