import type { Digest, Reference } from '@berth/oci';
import type { SourceLocation } from './recipe/parse.js';

/** What a build reports as it goes; the CLI renders these (`--progress`), tests count them. */
export type BuildEvent =
  | { type: 'stage'; stage: string | undefined; from: string; steps: number }
  | { type: 'pull'; reference: string }
  | {
      type: 'step';
      stage: string | undefined;
      /** 0-based index in the stage's steps. */
      index: number;
      /** Steps in this stage. */
      of: number;
      /** `steps[2].run`, `stages.builder.steps[0].copy`. */
      path: string;
      location: SourceLocation;
      /** A one-line summary: `RUN echo hi`, `COPY app/ config.yml /srv/`. */
      text: string;
    }
  | { type: 'output'; stage: string | undefined; index: number; stream: 'stdout' | 'stderr'; data: Buffer }
  | {
      type: 'step-done';
      stage: string | undefined;
      index: number;
      /** True when the step's result came from the cache (or it only changed the config and nothing before it ran). */
      cached: boolean;
      ms: number;
      /** The layer the step added, if any. */
      layer?: { digest: string; size: number };
    }
  | { type: 'warning'; message: string }
  | { type: 'done'; digest: Digest; tags: Reference[]; ms: number };

export type BuildEventHandler = (e: BuildEvent) => void;
