import { describe, expect, it } from 'vitest';
import type { z } from 'zod';
import { Digest } from './digest.js';
import { ContainerConfigSchema, DescriptorSchema, HistorySchema, ImageConfigSchema, IndexSchema, ManifestSchema, PlatformSchema, parseJson } from './schema.js';
import { checks, parseImageConfig, parseIndex, parseManifest, validateDescriptor, type ValidationIssue } from './validate.js';

/*
 * Differential test: the zod-free checks of validate.ts against the zod schemas
 * of schema.ts, on every single mutation of full documents and on random
 * double mutations. Both must accept the same documents, report the same first
 * issue (path and message), and produce the same value.
 */

const d = (s: string): string => Digest.of(s).toString();
type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

const platform = { architecture: 'arm64', os: 'linux', 'os.version': '10.0', 'os.features': ['win32k'], variant: 'v8', features: ['sse4'] };
const descriptor = (n: string, extra: Record<string, Json> = {}): Record<string, Json> => ({
  mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip',
  digest: d(n),
  size: 1234,
  urls: ['https://example.com/x'],
  annotations: { 'org.example': 'yes' },
  artifactType: 'application/x',
  data: 'e30=',
  ...extra,
});

const manifest: Json = {
  schemaVersion: 2,
  mediaType: 'application/vnd.oci.image.manifest.v1+json',
  artifactType: 'application/x',
  config: descriptor('config'),
  layers: [descriptor('l1'), descriptor('l2', { platform })],
  subject: descriptor('subject'),
  annotations: { a: 'b' },
  extra: { kept: true },
};

const index: Json = {
  schemaVersion: 2,
  mediaType: 'application/vnd.oci.image.index.v1+json',
  manifests: [descriptor('m1', { platform }), descriptor('m2', { platform: { architecture: 'amd64', os: 'linux' } })],
  annotations: { a: 'b' },
};

const config: Json = {
  created: '2024-01-01T00:00:00Z',
  author: 'me',
  architecture: 'amd64',
  os: 'linux',
  'os.version': '1',
  'os.features': ['x'],
  variant: 'v1',
  config: {
    User: 'root',
    ExposedPorts: { '80/tcp': {} },
    Env: ['PATH=/bin'],
    Entrypoint: ['/bin/sh'],
    Cmd: null,
    Volumes: { '/data': {} },
    WorkingDir: '/',
    Labels: { a: 'b' },
    StopSignal: 'SIGTERM',
    ArgsEscaped: true,
  },
  rootfs: { type: 'layers', diff_ids: [d('1'), d('2')] },
  history: [{ created: 'now', author: 'a', created_by: 'sh', comment: 'c', empty_layer: true }, {}],
};

const VALUES: Json[] = [
  null, true, false, 0, 1, 2, -1, 1.5, 2 ** 53, 2 ** 60, -(2 ** 60), '', 'x', 'layers', d('v'), 'sha256:abc',
  [], ['x'], [1], [null], {}, { a: 'b' }, { a: 1 }, { a: {} }, { a: null }, [{}], platform, descriptor('v'),
];
/** Values a missing key is set to (fewer than VALUES: there are many missing keys). */
const ADDED: Json[] = [null, 1, -1, '', 'x', [], [1], {}, { a: 1 }];
/** Keys of every schema: set on every object where they are missing. */
const KEYS = [...new Set([
  ...Object.keys(manifest as object), ...Object.keys(index as object), ...Object.keys(config as object),
  ...Object.keys(descriptor('k', { platform })), ...Object.keys(platform), ...Object.keys((config as { config: object }).config),
  'type', 'diff_ids', 'created_by', 'comment', 'empty_layer', 'manifests',
])];

type Mutation = (doc: Json) => void;

/** Every place in a document: its parent and key. */
function places(doc: Json, out: Array<{ parent: Json[] | Record<string, Json>; key: string | number }> = []): typeof out {
  if (Array.isArray(doc)) {
    doc.forEach((v, i) => {
      out.push({ parent: doc, key: i });
      places(v, out);
    });
  } else if (doc && typeof doc === 'object') {
    for (const [k, v] of Object.entries(doc)) {
      out.push({ parent: doc, key: k });
      places(v, out);
    }
  }
  return out;
}

function objects(doc: Json, path: (string | number)[] = [], out: Array<(string | number)[]> = []): typeof out {
  if (Array.isArray(doc)) doc.forEach((v, i) => objects(v, [...path, i], out));
  else if (doc && typeof doc === 'object') {
    out.push(path);
    for (const [k, v] of Object.entries(doc)) objects(v, [...path, k], out);
  }
  return out;
}

function at(doc: Json, path: (string | number)[]): Json {
  let cur: Json = doc;
  for (const p of path) cur = (cur as Record<string | number, Json>)[p] as Json;
  return cur;
}

/** All single mutations of `doc`: replace any value, delete any key, set any missing schema key, grow arrays. */
function mutations(doc: Json): Mutation[] {
  const out: Mutation[] = [];
  const n = places(doc).length;
  for (let i = 0; i < n; i++) {
    for (const v of VALUES) {
      out.push((x) => {
        const p = places(x)[i];
        if (p) (p.parent as Record<string | number, Json>)[p.key] = structuredClone(v);
      });
    }
    out.push((x) => {
      const p = places(x)[i];
      if (!p) return;
      if (Array.isArray(p.parent)) p.parent.splice(p.key as number, 1);
      else delete p.parent[p.key as string];
    });
  }
  for (const path of objects(doc)) {
    const o = at(doc, path) as Record<string, Json>;
    for (const k of KEYS) {
      if (k in o) continue;
      for (const v of ADDED) {
        out.push((x) => {
          (at(x, path) as Record<string, Json>)[k] = structuredClone(v);
        });
      }
    }
  }
  // The whole document replaced.
  for (const v of VALUES) out.push((x) => void Object.assign(x as object, { __replaced: v }));
  return out;
}

type Check = (v: unknown, p: (string | number)[]) => ValidationIssue | undefined;

/** Compare zod and the check on one document; undefined when they agree. */
function compare(schema: z.ZodType, check: Check, doc: unknown): string | undefined {
  const forZod = clone(doc);
  const forCheck = clone(doc);
  const z = schema.safeParse(forZod);
  const found = check(forCheck, []);
  if (z.success) {
    if (found) return `zod accepts, check says ${JSON.stringify(found)}: ${JSON.stringify(doc).slice(0, 300)}`;
    // zod copies an accepted object that is not a plain one (a Date passes a shape of optional
    // keys) into a plain object; the checks return what they were given. Only values from
    // callers can be such objects, never parsed JSON.
    if (Object.getPrototypeOf(doc) !== Object.prototype) return undefined;
    try {
      expect(forCheck).toEqual(z.data);
    } catch {
      return `same verdict, different value: ${JSON.stringify(doc).slice(0, 300)}`;
    }
    return undefined;
  }
  const first = z.error.issues[0];
  const want = { path: first?.path ?? [], message: first?.message ?? '' };
  if (!found) return `zod says ${JSON.stringify(want)}, check accepts: ${JSON.stringify(doc).slice(0, 300)}`;
  if (JSON.stringify(found) !== JSON.stringify(want)) return `zod says ${JSON.stringify(want)}, check says ${JSON.stringify(found)}: ${JSON.stringify(doc).slice(0, 300)}`;
  return undefined;
}

/** Deep copy of plain objects and arrays; anything else (Date, Symbol, …) is shared. */
function clone(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(clone);
  if (v && typeof v === 'object' && Object.getPrototypeOf(v) === Object.prototype) {
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, clone(x)]));
  }
  return v;
}

/** A small deterministic PRNG (mulberry32). */
function prng(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const CASES: Array<[string, z.ZodType, Check, Json]> = [
  ['manifest', ManifestSchema, checks.manifest, manifest],
  ['index', IndexSchema, checks.index, index],
  ['image config', ImageConfigSchema, checks.imageConfig, config],
  ['descriptor', DescriptorSchema, checks.descriptor, descriptor('d', { platform })],
  ['platform', PlatformSchema, checks.platform, platform],
  ['container config', ContainerConfigSchema, checks.containerConfig, (config as { config: Json }).config],
  ['history', HistorySchema, checks.history, { created: 'now', empty_layer: false }],
];

describe('validate.ts agrees with the zod schemas', () => {
  it.each(CASES)('%s: the base document, every single mutation and 1000 random double mutations', (_name, schema, check, base) => {
    const problems: string[] = [];
    const record = (doc: unknown): void => {
      const p = compare(schema, check, doc);
      if (p) problems.push(p);
    };
    record(base);
    const muts = mutations(base);
    for (const m of muts) {
      const doc = structuredClone(base);
      m(doc);
      record(doc);
    }
    const rnd = prng(42);
    for (let i = 0; i < 1000; i++) {
      const doc = structuredClone(base);
      for (let j = 0; j < 2; j++) {
        const ms = mutations(doc);
        ms[Math.floor(rnd() * ms.length)]?.(doc);
      }
      record(doc);
    }
    // Not JSON, but descriptors also come from callers (Store.setTag).
    for (const v of [undefined, NaN, Infinity, -Infinity, new Date(0), new Map(), Symbol('s'), 10n, () => 1, new String('x')]) {
      record(v);
      record({ ...(base as object), size: v, mediaType: v });
      record({ ...(base as object), annotations: v });
    }
    expect(muts.length).toBeGreaterThan(200);
    expect(problems.slice(0, 5)).toEqual([]);
  });
});

describe('parse functions', () => {
  it('give the same one-line errors as parseJson with the zod schemas', () => {
    const bad = [
      '{not json',
      '[]',
      JSON.stringify({ schemaVersion: 2, config: descriptor('c'), layers: [{ ...descriptor('l'), digest: 'sha256:nope' }] }),
      JSON.stringify({ schemaVersion: 1, manifests: [] }),
      JSON.stringify({ ...(config as object), rootfs: { type: 'layers', diff_ids: [1] } }),
    ];
    const pairs: Array<[(b: string) => unknown, z.ZodType, string, 'EINVAL_MANIFEST' | 'EINVAL_CONFIG']> = [
      [(b) => parseManifest(b, 'manifest m'), ManifestSchema, 'manifest m', 'EINVAL_MANIFEST'],
      [(b) => parseIndex(b, 'index i'), IndexSchema, 'index i', 'EINVAL_MANIFEST'],
      [(b) => parseImageConfig(b, 'config c'), ImageConfigSchema, 'config c', 'EINVAL_CONFIG'],
    ];
    for (const text of bad) {
      for (const [fast, schema, what, code] of pairs) {
        const message = (f: () => unknown): string => {
          try {
            f();
            return 'ok';
          } catch (err) {
            return `${(err as { code: string }).code} ${(err as Error).message}`;
          }
        };
        expect(message(() => fast(text))).toBe(message(() => parseJson(text, schema, { what, code, ...(code === 'EINVAL_CONFIG' ? { maxBytes: 8 * 1024 * 1024 } : {}) })));
      }
    }
  });

  it('parseIndex takes the error code and size limit of the caller', () => {
    expect(() => parseIndex('{"schemaVersion":2,"manifests":{}}', 'read index.json', { code: 'ESTORE' })).toThrow(expect.objectContaining({ code: 'ESTORE', message: 'read index.json: manifests: Invalid input: expected array, received object' }));
    expect(() => parseIndex('{"schemaVersion":2,"manifests":[]}', 'small', { maxBytes: 10 })).toThrow(/^small: 34 bytes exceeds the 10-byte limit$/);
  });

  it('validateDescriptor returns the first issue, or undefined', () => {
    expect(validateDescriptor(descriptor('x'))).toBeUndefined();
    expect(validateDescriptor({ mediaType: 'x', digest: d('x'), size: -1 })).toEqual({ path: ['size'], message: 'Too small: expected number to be >=0' });
    expect(validateDescriptor({ mediaType: '', digest: 'bad', size: 1 })).toEqual({ path: ['mediaType'], message: 'Too small: expected string to have >=1 characters' });
  });

  it('empties ExposedPorts and Volumes values as zod does, and keeps unknown keys', () => {
    const c = parseImageConfig(JSON.stringify({ ...(config as object), config: { ExposedPorts: { '80/tcp': { x: 1 } }, Volumes: { '/v': { y: 2 } } }, extra: 1 }));
    expect(c.config?.ExposedPorts).toEqual({ '80/tcp': {} });
    expect(c.config?.Volumes).toEqual({ '/v': {} });
    expect((c as Record<string, unknown>)['extra']).toBe(1);
  });
});
