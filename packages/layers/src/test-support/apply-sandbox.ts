/**
 * The sandbox applyLayer's tests run in: a fresh root per test with an "outside" beside it
 * that must not change (checked after every test), and helpers that build a layer from
 * entries, apply it there and read the result.
 */
import { lstatSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { Readable } from 'node:stream';
import { afterEach, beforeEach, expect } from 'vitest';
import { BerthError, Digest } from '@berth/oci';
import {
  buildLayer,
  LAYER_MEDIA_TYPE,
  layerFixtures,
  makeSandbox,
  type EntrySpec,
  type LayerFixtureName,
  type Sandbox,
} from '../../../../fixtures/layers/index.js';
import { applyLayer, type ApplyLayerResult } from '../apply.js';
import type { LayerLimits } from '../limits.js';

export interface ApplyOptions {
  compression?: 'none' | 'gzip' | 'zstd';
  limits?: Partial<LayerLimits>;
  name?: string;
  trailing?: Buffer;
}

export interface ApplySandbox {
  /** The sandbox of the running test. */
  readonly box: Sandbox;
  apply(entries: EntrySpec[], opts?: ApplyOptions): Promise<ApplyLayerResult>;
  /** Removes the test's sandbox and starts it again, empty. */
  fresh(): void;
  applyFixture(name: LayerFixtureName): Promise<void>;
  /** Apply all but the last layer, then expect the last to fail with `code` and a message matching `re`. */
  expectFixtureError(name: LayerFixtureName, code: string, re: RegExp): Promise<BerthError>;
  at(...p: string[]): string;
  read(...p: string[]): string;
  mode(...p: string[]): number;
}

/** Registers the per-test sandbox (made before each test, checked and removed after it). */
export function useApplySandbox(): ApplySandbox {
  let current: Sandbox | undefined;
  beforeEach(() => {
    current = makeSandbox();
  });
  afterEach(() => {
    const b = current;
    current = undefined;
    if (!b) return;
    try {
      b.check(); // every test: nothing outside the root changed
    } finally {
      b.cleanup();
    }
  });
  const box = (): Sandbox => {
    if (!current) throw new Error('the apply sandbox is used outside a test');
    return current;
  };
  const apply = async (entries: EntrySpec[], opts: ApplyOptions = {}): Promise<ApplyLayerResult> => {
    const compression = opts.compression ?? 'none';
    const blob = await buildLayer(entries, { compression, ...(opts.trailing ? { trailing: opts.trailing } : {}) });
    return applyLayer({
      root: box().root,
      source: Readable.from([blob]),
      mediaType: LAYER_MEDIA_TYPE[compression],
      digest: Digest.of(blob),
      ...(opts.limits ? { limits: opts.limits } : {}),
      ...(opts.name ? { name: opts.name } : {}),
    });
  };
  const at = (...p: string[]): string => path.join(box().root, ...p);
  return {
    get box() {
      return box();
    },
    apply,
    fresh() {
      box().cleanup();
      current = makeSandbox();
    },
    async applyFixture(name) {
      for (const layer of layerFixtures[name].layers({ outside: box().outside })) await apply(layer);
    },
    async expectFixtureError(name, code, re) {
      const layers = layerFixtures[name].layers({ outside: box().outside });
      for (const layer of layers.slice(0, -1)) await apply(layer);
      const err = await apply(layers[layers.length - 1] as EntrySpec[]).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(BerthError);
      const be = err as BerthError;
      expect(be.code).toBe(code);
      expect(be.message).toMatch(re);
      expect(be.message).toMatch(/^apply layer sha256:[0-9a-f]{12}…: /);
      expect(be.message).not.toContain('\n');
      return be;
    },
    at,
    read: (...p) => readFileSync(at(...p), 'utf8'),
    mode: (...p) => lstatSync(at(...p)).mode & 0o7777,
  };
}
