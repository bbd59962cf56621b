import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import {
  BerthError,
  Digest,
  INDEX_DIGEST_ANNOTATION,
  MediaType,
  Reference,
  encodeJson,
  type Descriptor,
  type ImageSink,
  type ImageSource,
  type Platform,
} from '@berth/oci';
import { copyImage, type CopyProgressEvent } from './copy.js';

const blob = (bytes: Buffer, mediaType: string): { d: Descriptor; bytes: Buffer } => ({ d: { mediaType, digest: Digest.of(bytes).toString(), size: bytes.length }, bytes });

/** An image (config + layers + manifest) for one platform, in memory. */
function image(platform: Platform, layerTexts: string[]) {
  const layers = layerTexts.map((t) => blob(Buffer.from(t), MediaType.OciLayerGzip));
  const config = blob(Buffer.from(JSON.stringify({ os: platform.os, architecture: platform.architecture, rootfs: { type: 'layers', diff_ids: layers.map((l) => l.d.digest) } })), MediaType.OciConfig);
  const manifest = blob(Buffer.from(encodeJson({ schemaVersion: 2, mediaType: MediaType.OciManifest, config: config.d, layers: layers.map((l) => l.d) })), MediaType.OciManifest);
  return { layers, config, manifest };
}

/** A source over maps; `gate` holds each blob fetch until released, to see concurrency. */
class FakeSource implements ImageSource {
  readonly name = 'fake source';
  readonly blobs = new Map<string, Buffer>();
  readonly refs = new Map<string, { d: Descriptor; bytes: Buffer }>();
  readonly fetched: string[] = [];
  inflight = 0;
  maxInflight = 0;
  gate: Promise<void> | undefined;
  failOn: string | undefined;
  add(b: { d: Descriptor; bytes: Buffer }): void {
    this.blobs.set(b.d.digest, b.bytes);
  }
  async resolve(ref: Reference) {
    const r = this.refs.get(ref.toString()) ?? [...this.refs.values()].find((x) => ref.digest?.equals(x.d.digest));
    if (!r) throw new BerthError('ENOT_FOUND', `${ref}: not found`);
    return { descriptor: r.d, bytes: r.bytes };
  }
  async manifest(_ref: Reference, d: Descriptor) {
    const bytes = this.blobs.get(d.digest);
    if (!bytes) throw new BerthError('ENOT_FOUND', `${d.digest}: not found`);
    return { descriptor: { mediaType: d.mediaType, digest: d.digest, size: bytes.length }, bytes };
  }
  async fetchBlob(_ref: Reference, d: Descriptor, target: { offset: number; createWriteStream(): NodeJS.WritableStream }, opts: { signal?: AbortSignal; onProgress?: (n: number) => void } = {}) {
    this.fetched.push(d.digest);
    this.inflight++;
    this.maxInflight = Math.max(this.maxInflight, this.inflight);
    try {
      if (this.gate) await this.gate;
      if (opts.signal?.aborted) throw new BerthError('EABORTED', 'fetch: aborted');
      if (this.failOn === d.digest) throw new BerthError('ENETWORK', 'fetch: connection reset', { details: { reason: 'connection reset' } });
      const bytes = this.blobs.get(d.digest) as Buffer;
      await new Promise<void>((resolve) => target.createWriteStream().end(bytes.subarray(target.offset), () => resolve()));
      opts.onProgress?.(bytes.length);
    } finally {
      this.inflight--;
    }
  }
  async openBlob(_ref: Reference, d: Descriptor) {
    return Readable.from([this.blobs.get(d.digest) as Buffer]);
  }
}

/** A sink that records the order of what it was given and verifies each blob's digest. */
class FakeSink implements ImageSink {
  readonly name = 'fake sink';
  readonly blobs = new Map<string, Buffer>();
  readonly log: string[] = [];
  readonly tags = new Map<string, Descriptor>();
  leases = 0;
  async withLease<T>(fn: () => Promise<T>): Promise<T> {
    this.leases++;
    return fn();
  }
  async hasBlob(d: Descriptor) {
    return this.blobs.get(d.digest)?.length === d.size;
  }
  async readBlob(d: Descriptor) {
    return this.blobs.get(d.digest) as Buffer;
  }
  async writeBlob(o: Parameters<ImageSink['writeBlob']>[0]) {
    const chunks: Buffer[] = [];
    const { Writable } = await import('node:stream');
    const target = {
      offset: 0,
      createWriteStream: () => new Writable({ write: (c: Buffer, _e, cb) => (chunks.push(c), cb()) }),
      reset: async () => undefined,
    };
    await o.source.fetchBlob(o.sourceRef, o.descriptor, target, { ...(o.signal ? { signal: o.signal } : {}), ...(o.onProgress ? { onProgress: o.onProgress } : {}) });
    const bytes = Buffer.concat(chunks);
    if (!Digest.of(bytes).equals(o.descriptor.digest)) throw new BerthError('EDIGEST_MISMATCH', `blob ${o.descriptor.digest}: wrong bytes`);
    this.blobs.set(o.descriptor.digest, bytes);
    this.log.push(`blob ${o.descriptor.digest}`);
    return { status: 'written' as const };
  }
  async writeManifest(_ref: Reference, m: { descriptor: Descriptor; bytes: Uint8Array }) {
    this.blobs.set(m.descriptor.digest, Buffer.from(m.bytes));
    this.log.push(`manifest ${m.descriptor.digest}`);
  }
  async tag(ref: Reference, d: Descriptor) {
    this.tags.set(ref.toString(), d);
    this.log.push(`tag ${ref}`);
  }
}

const amd64: Platform = { os: 'linux', architecture: 'amd64' };
const arm64: Platform = { os: 'linux', architecture: 'arm64', variant: 'v8' };
const ref = Reference.parse('localhost:5000/app:1');

function singleSource(layers = ['a', 'b', 'c', 'd', 'e']) {
  const img = image(amd64, layers);
  const src = new FakeSource();
  for (const b of [img.config, ...img.layers, img.manifest]) src.add(b);
  src.refs.set(ref.toString(), img.manifest);
  return { src, img };
}

function indexSource() {
  const a = image(amd64, ['amd-1', 'amd-2']);
  const b = image(arm64, ['arm-1']);
  const src = new FakeSource();
  for (const img of [a, b]) for (const x of [img.config, ...img.layers, img.manifest]) src.add(x);
  const index = blob(
    Buffer.from(encodeJson({ schemaVersion: 2, mediaType: MediaType.OciIndex, manifests: [{ ...a.manifest.d, platform: amd64 }, { ...b.manifest.d, platform: arm64 }] })),
    MediaType.OciIndex,
  );
  src.refs.set(ref.toString(), index);
  return { src, a, b, index };
}

describe('copyImage', () => {
  it('copies the config before the layers of a single-platform image, the manifest after them, the tag last, inside the sink lease', async () => {
    const { src, img } = singleSource(['a', 'b']);
    const sink = new FakeSink();
    const r = await copyImage(src, sink, { reference: ref, platform: amd64 });
    expect(sink.leases).toBe(1);
    expect(sink.log[0]).toBe(`blob ${img.config.d.digest}`);
    expect(sink.log.slice(3)).toEqual([`manifest ${img.manifest.d.digest}`, `tag ${ref}`]);
    expect(sink.log.slice(1, 3).sort()).toEqual(img.layers.map((l) => `blob ${l.d.digest}`).sort());
    expect(r.descriptor).toEqual({ ...img.manifest.d, platform: amd64 });
    expect(sink.tags.get(ref.toString())).toEqual(r.descriptor);
    expect(r.config?.architecture).toBe('amd64');
    expect(r.layersCopied).toBe(2);
  });

  it('never runs more than `concurrency` blob copies at once', async () => {
    const { src, img } = singleSource(['1', '2', '3', '4', '5', '6', '7']);
    let release!: () => void;
    src.gate = new Promise((r) => (release = r));
    const sink = new FakeSink();
    sink.blobs.set(img.config.d.digest, img.config.bytes); // held: read back, not fetched
    const done = copyImage(src, sink, { reference: ref, concurrency: 2 });
    await new Promise((r) => setTimeout(r, 50));
    expect(src.inflight).toBe(2);
    release();
    await done;
    expect(src.maxInflight).toBe(2);
    expect(sink.blobs.size).toBe(1 + 7 + 1);
    expect(src.fetched).not.toContain(img.config.d.digest);
  });

  it('skips blobs the sink has and copies each digest once', async () => {
    const { src, img } = singleSource(['x', 'y', 'x']);
    const sink = new FakeSink();
    const first = img.layers[0] as { d: Descriptor; bytes: Buffer };
    sink.blobs.set(first.d.digest, first.bytes);
    sink.blobs.set(img.config.d.digest, img.config.bytes);
    const events: CopyProgressEvent[] = [];
    const r = await copyImage(src, sink, { reference: ref, onProgress: (e) => events.push(e) });
    expect(src.fetched).toEqual([img.layers[1]?.d.digest]);
    expect(r.layersCopied).toBe(1);
    expect(r.layersExisting).toBe(1);
    expect(events.filter((e) => e.status === 'exists').map((e) => e.kind).sort()).toEqual(['config', 'layer']);
  });

  it('narrows an index to the platform asked for, annotates the tag with the index digest, and copies the config alongside the layers', async () => {
    const { src, b, index } = indexSource();
    const sink = new FakeSink();
    const r = await copyImage(src, sink, { reference: ref, platform: { os: 'linux', architecture: 'arm64' } });
    expect(r.descriptor.digest).toBe(b.manifest.d.digest);
    expect(r.platform).toEqual(arm64);
    expect(r.indexDigest?.toString()).toBe(index.d.digest);
    expect(r.config).toBeUndefined();
    expect(sink.tags.get(ref.toString())?.annotations?.[INDEX_DIGEST_ANNOTATION]).toBe(index.d.digest);
    expect([...sink.blobs.keys()].sort()).toEqual([b.config.d.digest, ...b.layers.map((l) => l.d.digest), b.manifest.d.digest].sort());
    expect(src.fetched.sort()).toEqual([b.config.d.digest, ...b.layers.map((l) => l.d.digest)].sort());
  });

  it('refuses a platform the index does not have, naming what it has, and writes nothing', async () => {
    const { src } = indexSource();
    const sink = new FakeSink();
    const err = await copyImage(src, sink, { reference: ref, platform: { os: 'linux', architecture: 's390x' } }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BerthError);
    expect((err as BerthError).code).toBe('ENO_MATCHING_PLATFORM');
    expect((err as BerthError).message).toBe(
      `copy ${ref} from fake source to fake sink: no matching manifest for linux/s390x in the manifest list entries (available: linux/amd64, linux/arm64/v8)`,
    );
    expect(sink.log).toEqual([]);
  });

  it('refuses a single-platform image of another platform than the one asked for', async () => {
    const { src } = singleSource();
    const sink = new FakeSink();
    const err = (await copyImage(src, sink, { reference: ref, platform: arm64, doing: `pull ${ref}` }).catch((e: unknown) => e)) as BerthError;
    expect(err.code).toBe('ENO_MATCHING_PLATFORM');
    expect(err.message).toBe(`pull ${ref}: the image is linux/amd64, which does not match the requested platform linux/arm64/v8`);
    expect(sink.log).toEqual([]);
  });

  it('reports progress: resolving, waiting for each layer, each blob done, the manifest done last', async () => {
    const { src, img } = singleSource(['p', 'q']);
    const events: CopyProgressEvent[] = [];
    await copyImage(src, new FakeSink(), { reference: ref, onProgress: (e) => events.push(e) });
    expect(events[0]).toEqual({ id: '1', kind: 'manifest', status: 'resolving' });
    const short = (d: Descriptor): string => Digest.parse(d.digest).short();
    for (const l of img.layers) {
      const mine = events.filter((e) => e.id === short(l.d)).map((e) => e.status);
      expect(mine[0]).toBe('waiting');
      expect(mine.at(-1)).toBe('done');
    }
    expect(events.filter((e) => e.kind === 'config').map((e) => e.status).at(-1)).toBe('done');
    expect(events.at(-1)).toEqual({ id: short(img.manifest.d), kind: 'manifest', status: 'done', total: img.manifest.bytes.length });
  });

  it('the first failed blob stops the copy: no manifest, no tag, the error names the blob', async () => {
    const { src, img } = singleSource(['ok', 'bad']);
    src.failOn = img.layers[1]?.d.digest;
    const sink = new FakeSink();
    const err = (await copyImage(src, sink, { reference: ref }).catch((e: unknown) => e)) as BerthError;
    expect(err.code).toBe('ENETWORK');
    expect(err.message).toBe(`copy ${ref} from fake source to fake sink: layer ${Digest.parse(img.layers[1]?.d.digest as string).short()}: connection reset`);
    expect(sink.log.some((l) => l.startsWith('manifest') || l.startsWith('tag'))).toBe(false);
  });

  it('an abort stops the copy with EABORTED and leaves no tag', async () => {
    const { src } = singleSource(['1', '2', '3', '4']);
    let release!: () => void;
    src.gate = new Promise((r) => (release = r));
    const ac = new AbortController();
    const sink = new FakeSink();
    const done = copyImage(src, sink, { reference: ref, signal: ac.signal }).catch((e: unknown) => e);
    await new Promise((r) => setTimeout(r, 20));
    ac.abort(new Error('user'));
    release();
    const err = (await done) as BerthError;
    expect(err.code).toBe('EABORTED');
    expect(err.message).toBe(`copy ${ref} from fake source to fake sink: aborted`);
    expect(sink.tags.size).toBe(0);
  });

  it("platforms: 'all' copies every manifest of an index (blobs, then each manifest), then the index, and tags the index", async () => {
    const { src, a, b, index } = indexSource();
    const sink = new FakeSink();
    const r = await copyImage(src, sink, { reference: ref, platforms: 'all', platform: arm64 });
    expect(r.descriptor).toEqual(index.d);
    expect(r.manifests).toHaveLength(2);
    for (const x of [a, b]) for (const blobOf of [x.config, ...x.layers, x.manifest]) expect(sink.blobs.get(blobOf.d.digest)?.equals(blobOf.bytes)).toBe(true);
    expect(sink.log.filter((l) => l.startsWith('manifest') || l.startsWith('tag'))).toEqual([`manifest ${a.manifest.d.digest}`, `manifest ${b.manifest.d.digest}`, `manifest ${index.d.digest}`, `tag ${ref}`]);
    expect(sink.log.indexOf(`blob ${b.layers[0]?.d.digest}`)).toBeGreaterThan(sink.log.indexOf(`manifest ${a.manifest.d.digest}`));
    expect(sink.tags.get(ref.toString())).toEqual(index.d);
  });

  it('tag: false copies blobs and manifest but names nothing, and returns the descriptor to name', async () => {
    const { src, img } = singleSource(['x']);
    const sink = new FakeSink();
    const r = await copyImage(src, sink, { reference: ref, tag: false });
    expect(sink.tags.size).toBe(0);
    expect(sink.blobs.has(img.manifest.d.digest)).toBe(true);
    expect(r.descriptor).toMatchObject({ digest: img.manifest.d.digest, platform: amd64 });
  });

  it('a blob the source can locate is named by its place in messages (an archive entry)', async () => {
    const { src, img } = singleSource(['x', 'y']);
    const bad = img.layers[1]?.d.digest as string;
    src.failOn = bad;
    const located: ImageSource = Object.assign(Object.create(src) as FakeSource, { locate: (d: Descriptor) => `blob blobs/sha256/${Digest.parse(d.digest).hex}` });
    const err = await copyImage(located, new FakeSink(), { reference: ref, doing: 'load x.tar' }).catch((e: unknown) => e);
    expect((err as Error).message).toBe(`load x.tar: blob blobs/sha256/${Digest.parse(bad).hex}: connection reset`);
  });

  it('refuses a concurrency that is not a positive integer', async () => {
    const { src } = singleSource();
    await expect(copyImage(src, new FakeSink(), { reference: ref, concurrency: 0 })).rejects.toThrow(/concurrency must be a positive integer, got 0/);
  });
});
