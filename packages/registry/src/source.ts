import { PassThrough, Writable, type Readable } from 'node:stream';
import { BerthError, Digest, isIndexMediaType, type BlobTarget, type Descriptor, type ImageSink, type ImageSource, type Reference } from '@berth/oci';
import type { IngestTarget, ManifestResult, RegistryClient } from './client.js';

const resolved = (m: ManifestResult): { descriptor: Descriptor; bytes: Uint8Array } => ({
  descriptor: { mediaType: m.mediaType, digest: m.digest.toString(), size: m.bytes.length },
  bytes: m.bytes,
});

/** A BlobTarget as the client's ingest: the sink (not the client) commits or aborts it. */
function asIngest(target: BlobTarget): IngestTarget {
  return {
    exists: false,
    get offset() {
      return target.offset;
    },
    createWriteStream: () => target.createWriteStream(),
    reset: () => target.reset(),
    commit: async () => undefined,
    abort: async () => undefined,
  };
}

/**
 * A registry as an ImageSource (mirrors first, as every pull): manifests are bounded and
 * checked against the digest asked for; a blob's broken stream resumes with `Range` from what
 * the target holds (ResumableBody), or restarts from 0 through `target.reset()`.
 */
export function registrySource(client: RegistryClient): ImageSource {
  return {
    name: 'registry',
    resolve: async (ref, opts = {}) => resolved(await client.getManifest(ref, opts)),
    manifest: async (ref, _d, opts = {}) => resolved(await client.getManifest(ref, opts)),
    async fetchBlob(ref, descriptor, target, opts = {}) {
      await client.fetchBlob({
        reference: ref,
        descriptor,
        ingest: asIngest(target),
        ...(opts.signal ? { signal: opts.signal } : {}),
        ...(opts.onProgress ? { onProgress: opts.onProgress } : {}),
        ...(opts.onRetry ? { onRetry: (e) => opts.onRetry?.(`${e.reason}; retry ${e.attempt} in ${e.delayMs} ms`) } : {}),
      });
    },
    async openBlob(ref, descriptor, opts = {}) {
      // The blob from `start`, through the same resumable fetch; a restart from 0 after bytes
      // went out cannot be taken back, so it fails the stream instead.
      const out = new PassThrough();
      let sent = opts.start ?? 0;
      const start = sent;
      const target: BlobTarget = {
        get offset() {
          return sent;
        },
        createWriteStream: () =>
          new Writable({
            write(chunk: Buffer, _enc, cb) {
              sent += chunk.length;
              if (out.write(chunk)) cb();
              else out.once('drain', () => cb());
            },
          }),
        reset: async () => {
          if (sent !== start) throw new BerthError('EREGISTRY', `fetch blob ${descriptor.digest}: the registry restarted the blob after bytes were sent`);
        },
      };
      this.fetchBlob(ref, descriptor, target, opts.signal ? { signal: opts.signal } : {}).then(
        () => out.end(),
        (err: unknown) => out.destroy(err as Error),
      );
      return out as Readable;
    },
  };
}

/** A stream that is `opened` later (an ImageSource's openBlob is async; uploadBlob's `open` is not). */
function deferred(opened: Promise<Readable>): Readable {
  const out = new PassThrough();
  opened.then(
    (r) => {
      r.on('error', (err) => out.destroy(err));
      r.pipe(out);
    },
    (err: unknown) => out.destroy(err as Error),
  );
  return out;
}

/**
 * A registry as an ImageSink (never through mirrors): a blob goes up by uploadBlob (HEAD, then a
 * mount from the source repository when both are on this registry, then a monolithic or chunked
 * upload, read from the source from any offset); the manifest is PUT once, under the tag (or by
 * digest for a digest reference), when it is tagged, and the registry's digest must match.
 * `hasBlob` answers false: the upload's own HEAD finds what the registry has ('exists').
 */
export function registrySink(client: RegistryClient, opts: { chunkSize?: number } = {}): ImageSink {
  const manifests = new Map<string, { bytes: Buffer; mediaType: string }>();
  return {
    name: 'registry',
    hasBlob: async () => false,
    async writeBlob({ ref, descriptor, source, sourceRef, signal, onProgress }) {
      // The source's name says where the blob came from (a registry's repository, or the one a
      // stored image was pulled from): on the same registry it is mounted, not uploaded. A refused
      // mount costs nothing: the registry opens the upload instead.
      const mountFrom = sourceRef.registry === ref.registry && sourceRef.repository !== ref.repository ? sourceRef.repository : undefined;
      const result = await client.uploadBlob({
        reference: ref,
        descriptor,
        open: (offset) => deferred(source.openBlob(sourceRef, descriptor, { start: offset, ...(signal ? { signal } : {}) })),
        ...(mountFrom ? { mountFrom } : {}),
        ...(opts.chunkSize ? { chunkSize: opts.chunkSize } : {}),
        ...(onProgress ? { onProgress: (current: number) => onProgress(current) } : {}),
        ...(signal ? { signal } : {}),
      });
      return { status: result === 'uploaded' ? 'written' : result };
    },
    async writeManifest(_ref, m) {
      manifests.set(m.descriptor.digest, { bytes: Buffer.from(m.bytes), mediaType: m.descriptor.mediaType });
    },
    async tag(ref, d) {
      const m = manifests.get(d.digest);
      if (!m) throw new BerthError('EINVAL_ARGUMENT', `tag ${ref}: manifest ${d.digest} was not written first`);
      // An index's children go up first, by digest, in the order they were written.
      if (isIndexMediaType(d.mediaType)) {
        for (const [digest, child] of manifests) {
          if (digest === d.digest) continue;
          const put = await client.putManifest({ reference: ref.withDigest(digest), bytes: child.bytes, mediaType: child.mediaType });
          if (!put.equals(Digest.parse(digest))) throw new BerthError('EDIGEST_MISMATCH', `tag ${ref}: the registry says ${put}, the manifest is ${digest}`);
        }
      }
      const digest = await client.putManifest({ reference: ref.tag !== undefined ? ref : ref.withDigest(d.digest), bytes: m.bytes, mediaType: m.mediaType });
      if (!digest.equals(Digest.parse(d.digest))) throw new BerthError('EDIGEST_MISMATCH', `tag ${ref}: the registry says ${digest}, the manifest is ${d.digest}`);
    },
  };
}
