export { build } from './build.js';
export { describeStep } from './steps/describe.js';
export type { BuildOptions, BuildResult, StepResult } from './build.js';
export type { BuildEvent, BuildEventHandler } from './events.js';
export { parseRecipe, validateRecipe, loadRecipe, formatLocation, MAX_RECIPE_BYTES } from './recipe/parse.js';
export type { LoadRecipeOptions, ValidateRecipeOptions } from './recipe/parse.js';
export type {
  Recipe,
  RecipeStage,
  RecipeStep,
  RunStep,
  CopyStep,
  EnvStep,
  WorkdirStep,
  UserStep,
  LabelStep,
  ExposeStep,
  VolumeStep,
  SourceLocation,
  ParseRecipeOptions,
} from './recipe/parse.js';
export { RecipeSchema, recipeJsonSchema, STEP_KINDS } from './recipe/schema.js';
export type {
  StepKind,
  RecipeInput,
  StageInput,
  StepInput,
  RunStepInput,
  CopyStepInput,
  EnvStepInput,
  WorkdirStepInput,
  UserStepInput,
  LabelStepInput,
  ExposeStepInput,
  VolumeStepInput,
  RecipeScalar,
} from './recipe/schema.js';
export { BuildCache, CACHE_VERSION } from './cache.js';
export { sweepBuildTrees } from './sweep.js';
export type { StepRuntime } from './steps/run.js';
// The archives moved to @berth/archive; re-exported so that callers of @berth/builder keep working.
export { saveImages, loadImages } from '@berth/archive';
export type { SaveImagesOptions, SaveImagesResult, LoadImagesOptions, LoadedImage } from '@berth/archive';
