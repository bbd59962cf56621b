import { PassThrough, Writable, type Readable } from 'node:stream';
import { BerthError, type BlobTarget, type Descriptor, type ImageSource, type Reference } from '@berth/oci';
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
