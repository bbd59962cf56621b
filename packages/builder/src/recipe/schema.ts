import { z } from 'zod';

/**
 * The recipe schema (berth.yaml). The JSON Schema shipped in
 * `packages/builder/schema/recipe.schema.json` is generated from `RecipeSchema`
 * (`npm run schema -w @berth/builder`); a test keeps the two in step.
 *
 * Every object is strict (unknown keys are errors) and every union carries its
 * own one-line message, so errors read `steps[2].copy.src: expected a string or a list`.
 */

const NAME_RE = /^[A-Za-z_][A-Za-z0-9_]*$/;
const STAGE_RE = /^[a-z0-9][a-z0-9_.-]{0,63}$/;

/** A YAML scalar that becomes a string: `8080`, `true` and `"x"` are all fine as values. */
const scalar = z.union([z.string(), z.number(), z.boolean()], { error: 'expected a string, number or boolean' });
const stringOrList = z.union([z.string(), z.array(z.string())], { error: 'expected a string or a list' });
const nonEmptyStringOrList = z.union([z.string().min(1, 'must not be empty'), z.array(z.string()).min(1, 'must not be empty')], {
  error: 'expected a string or a list',
});

const envName = z.string().regex(/^[^=\0]+$/, 'a variable name must not be empty or contain "=" or NUL');
const envMap = z.record(envName, scalar, { error: 'expected a map of NAME: value' });

export const ArgsSchema = z
  .record(z.string().regex(NAME_RE, 'an arg name must match [A-Za-z_][A-Za-z0-9_]*'), scalar, { error: 'expected a map of NAME: value' })
  .describe('Build arguments with defaults, overridable with --build-arg NAME=VALUE; usable as $NAME or ${NAME} in later fields and exported to run steps.');

export const RunStepSchema = z
  .strictObject({
    run: nonEmptyStringOrList.describe('A shell string run with /bin/sh -c, or an argv list run directly.'),
    env: envMap.optional().describe('Environment for this run step only (on top of the recipe env and args).'),
  })
  .describe('Run a command in a container over the current tree; what it changes becomes one layer.');

/** The largest uid/gid the runtime accepts (its resolveUser), so a recipe is refused where the value is written, not when the image runs. */
const MAX_ID = 2 ** 31 - 1;
const ID_RANGE = `a uid or gid must be from 0 to ${MAX_ID}`;
const numericId = z.number().int({ error: ID_RANGE }).min(0, ID_RANGE).max(MAX_ID, ID_RANGE);
/** "user[:group]": the numeric parts in range (names are looked up when the image runs). */
const userSpec = z
  .string()
  .min(1, 'must not be empty')
  .refine((v) => v.split(':').every((part) => !/^\d+$/.test(part) || Number(part) <= MAX_ID), ID_RANGE);

export const CopySpecSchema = z.strictObject({
  src: nonEmptyStringOrList.describe('Paths or globs relative to the build context (or to the root of the stage named by `from`).'),
  dest: z.string().min(1, 'must not be empty').describe('Destination in the image; a trailing "/" (or several sources) makes it a directory.'),
  chown: z.union([userSpec, numericId], { error: 'expected "user[:group]" or a uid' }).optional(),
  chmod: z
    .string({ error: 'expected an octal mode string like "0644"' })
    .regex(/^0?[0-7]{3,4}$/, 'expected an octal mode string like "0644"')
    .optional(),
  from: z.string().min(1, 'must not be empty').optional().describe('Copy from the named stage instead of the build context.'),
});

export const CopyStepSchema = z.strictObject({ copy: CopySpecSchema }).describe('Copy files into the image; one layer.');
export const EnvStepSchema = z.strictObject({ env: envMap }).describe('Set environment variables (config only).');
export const WorkdirStepSchema = z
  .strictObject({ workdir: z.string().min(1, 'must not be empty') })
  .describe('Set the working directory for later run steps and the image (config only).');
export const UserStepSchema = z
  .strictObject({
    user: z.union([userSpec, numericId], { error: 'expected "user[:group]" or a uid' }),
  })
  .describe('Set the user for later run steps and the image (config only).');
export const LabelStepSchema = z
  .strictObject({ label: z.record(z.string().min(1, 'a label name must not be empty'), scalar, { error: 'expected a map of name: value' }) })
  .describe('Add image labels (config only).');
const PORT_RANGE = 'a port must be from 1 to 65535';
const port = z.union(
  [
    z.number().int({ error: PORT_RANGE }).min(1, PORT_RANGE).max(65535, PORT_RANGE),
    z
      .string()
      .regex(/^\d{1,5}(\/(tcp|udp|sctp))?$/, 'expected PORT or PORT/tcp|udp|sctp')
      .refine((v) => {
        const n = Number(v.split('/')[0]);
        return n >= 1 && n <= 65535;
      }, PORT_RANGE),
  ],
  { error: 'expected a port like 8080 or "53/udp"' },
);
export const ExposeStepSchema = z
  .strictObject({ expose: z.union([port, z.array(port)], { error: 'expected a port or a list of ports' }) })
  .describe('Declare exposed ports (config only).');
export const VolumeStepSchema = z.strictObject({ volume: stringOrList }).describe('Declare volumes (config only).');

/** Step kinds in the order the union lists them (used to pick the branch for error messages). */
export const STEP_KINDS = ['run', 'copy', 'env', 'workdir', 'user', 'label', 'expose', 'volume'] as const;
export type StepKind = (typeof STEP_KINDS)[number];

export const StepSchema = z.union(
  [RunStepSchema, CopyStepSchema, EnvStepSchema, WorkdirStepSchema, UserStepSchema, LabelStepSchema, ExposeStepSchema, VolumeStepSchema],
  { error: `expected a step with one of: ${STEP_KINDS.join(', ')}` },
);

const steps = z.array(StepSchema, { error: 'expected a list of steps' });
const command = z
  .union([z.string().min(1, 'must not be empty'), z.array(z.string())], { error: 'expected a string or a list' })
  .describe('A list is used as is; a string is run with /bin/sh -c.');

export const StageSchema = z
  .strictObject({
    from: z.string({ error: 'expected an image reference, a stage name or "scratch"' }).min(1, 'must not be empty'),
    args: ArgsSchema.optional(),
    steps: steps.optional(),
  })
  .describe('A named build stage; only files copied out of it with `copy.from` reach the final image.');

export const RecipeSchema = z
  .strictObject({
    from: z
      .string({ error: 'expected an image reference, a stage name or "scratch"' })
      .min(1, 'must not be empty')
      .describe('Base image reference, the name of a stage, or "scratch".'),
    args: ArgsSchema.optional(),
    stages: z
      .record(z.string().regex(STAGE_RE, 'a stage name must match [a-z0-9][a-z0-9_.-]*'), StageSchema, { error: 'expected a map of stage name: stage' })
      .optional(),
    steps: steps.optional(),
    entrypoint: command.optional(),
    cmd: command.optional(),
    stopsignal: z
      .union([z.string().regex(/^(SIG)?[A-Z0-9+-]+$|^\d+$/, 'expected a signal name like SIGTERM or a number'), z.number().int().min(1).max(64)], {
        error: 'expected a signal name like SIGTERM or a number',
      })
      .optional(),
  })
  .describe('A berth build recipe (berth.yaml).');

/** A value berth.yaml may give where a string is meant: `8080`, `true` and `"x"` all become strings. */
export type RecipeScalar = string | number | boolean;

/** `run:` a shell string (`/bin/sh -c`) or an argv list; `env:` for this step only. */
export interface RunStepInput {
  run: string | string[];
  env?: Record<string, RecipeScalar>;
}
/** `copy:` from the build context (or from the stage named by `from`) into the image. */
export interface CopyStepInput {
  copy: {
    src: string | string[];
    dest: string;
    /** `"user[:group]"` or a uid. */
    chown?: string | number;
    /** An octal mode string such as `"0644"`. */
    chmod?: string;
    from?: string;
  };
}
export interface EnvStepInput {
  env: Record<string, RecipeScalar>;
}
export interface WorkdirStepInput {
  workdir: string;
}
export interface UserStepInput {
  user: string | number;
}
export interface LabelStepInput {
  label: Record<string, RecipeScalar>;
}
export interface ExposeStepInput {
  /** `8080`, `"53/udp"`, or a list of them. */
  expose: number | string | Array<number | string>;
}
export interface VolumeStepInput {
  volume: string | string[];
}
export type StepInput =
  | RunStepInput
  | CopyStepInput
  | EnvStepInput
  | WorkdirStepInput
  | UserStepInput
  | LabelStepInput
  | ExposeStepInput
  | VolumeStepInput;

export interface StageInput {
  from: string;
  args?: Record<string, RecipeScalar>;
  steps?: StepInput[];
}

/**
 * A recipe written in code: the same keys and values as berth.yaml. `build({ recipe })`
 * and `validateRecipe` check it against `RecipeSchema` like recipe text.
 */
export interface RecipeInput {
  /** Base image reference, the name of a stage, or `scratch`. */
  from: string;
  args?: Record<string, RecipeScalar>;
  stages?: Record<string, StageInput>;
  steps?: StepInput[];
  /** A list is used as is; a string runs with `/bin/sh -c`. */
  entrypoint?: string | string[];
  cmd?: string | string[];
  /** `SIGTERM`, `TERM` or a number. */
  stopsignal?: string | number;
}

// RecipeInput is written out for readers and editors; this fails to compile if it and the schema drift apart.
type Both<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
type MustBeTrue<T extends true> = T;
export type RecipeInputMatchesSchema = MustBeTrue<Both<RecipeInput, z.input<typeof RecipeSchema>>>;
export type RecipeDocument = z.output<typeof RecipeSchema>;
export type StepDocument = z.output<typeof StepSchema>;
export type StageDocument = z.output<typeof StageSchema>;
export type CopySpecDocument = z.output<typeof CopySpecSchema>;

/** The JSON Schema (draft 2020-12) for recipes. */
export function recipeJsonSchema(): Record<string, unknown> {
  const schema = z.toJSONSchema(RecipeSchema, { target: 'draft-2020-12', unrepresentable: 'any' }) as Record<string, unknown>;
  return { $id: 'https://berth.dev/schema/recipe.schema.json', title: 'berth recipe', ...schema };
}
