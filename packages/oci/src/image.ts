/**
 * The shapes an image moves through (as go-containerregistry's `v1.Image` with `remote`,
 * `layout` and `tarball`): an ImageSource gives manifests and blobs, an ImageSink takes them,
 * and `@berth/image`'s `copyImage(source, sink, options)` moves an image from one to the other.
 * Types only: `@berth/oci` does no I/O. Implementations: the registry (`@berth/registry`), the
 * store (`@berth/image`, over the store's shape), archives and layout directories (`@berth/archive`).
 */
import type { Readable, Writable } from 'node:stream';
import type { Descriptor } from './schema.js';
import type { Reference } from './reference.js';

/**
 * On a tag whose manifest was chosen from an image index (a multi-platform image), the
 * index's digest: the store keeps the platform manifest, and `NAME@<index digest>` still
 * finds it, as docker's RepoDigests do. Written by copyImage's sinks, read by the store.
 */
export const INDEX_DIGEST_ANNOTATION = 'io.berth.index.digest';

/** The name of an `index.json` entry (OCI image layout): berth writes the full reference, skopeo and umoci a bare tag. */
export const REF_NAME_ANNOTATION = 'org.opencontainers.image.ref.name';
/** The full image name containerd and Docker 25+ write on an archive's `index.json` entries. */
export const CONTAINERD_NAME_ANNOTATION = 'io.containerd.image.name';

/** A manifest or an index with the exact bytes its digest covers. */
export interface ResolvedManifest {
  /** mediaType, digest and size of `bytes` (the media type detected when the source has none). */
  descriptor: Descriptor;
  bytes: Uint8Array;
}

/**
 * Where a blob's bytes go (a store ingest): what was held from an interrupted copy, and a
 * stream appending after it. The sink verifies digest and size when the bytes are in.
 */
export interface BlobTarget {
  /** Bytes already held from an earlier, interrupted copy; the source sends from here. */
  readonly offset: number;
  /** Appends at the current offset. */
  createWriteStream(): Writable;
  /** Drop the partial content; the next write stream starts at 0. */
  reset(): Promise<void>;
}

export interface BlobReadOptions {
  signal?: AbortSignal;
  /** Bytes of the blob held so far (counting `target.offset`). */
  onProgress?: (current: number) => void;
  /** A failed attempt that will be retried (the reason and the wait). */
  onRetry?: (message: string) => void;
}

export interface ImageSource {
  /** For messages: `registry localhost:5000`, `store`, `oci-archive /tmp/a.tar`. */
  readonly name: string;
  /** The manifest or index `ref` names in this source (by tag, or by digest). */
  resolve(ref: Reference, opts?: { signal?: AbortSignal }): Promise<ResolvedManifest>;
  /** A manifest named by an index entry (checked against the descriptor's digest). */
  manifest(ref: Reference, descriptor: Descriptor, opts?: { signal?: AbortSignal }): Promise<ResolvedManifest>;
  /**
   * Write the blob into `target` from `target.offset` on. A source that can resume a broken
   * stream (a registry's `Range`) does so; the target verifies the whole blob.
   */
  fetchBlob(ref: Reference, descriptor: Descriptor, target: BlobTarget, opts?: BlobReadOptions): Promise<void>;
  /** A stream of the blob from byte `start` on (the bytes before it are hashed, not sent, where the source can). */
  openBlob(ref: Reference, descriptor: Descriptor, opts?: { start?: number; signal?: AbortSignal }): Promise<Readable>;
  /** Where the source holds a blob, for messages (an archive's entry path); default `layer 1a2b3c4d5e6f`. */
  locate?(descriptor: Descriptor): string | undefined;
}

export interface BlobWriteResult {
  /** What happened: written, already there, or mounted from another repository (registries). */
  status: 'written' | 'exists' | 'mounted';
}

export interface ImageSink {
  /** For messages, as ImageSource's. */
  readonly name: string;
  /** Runs the whole copy (a store lease, so a concurrent gc removes nothing before the tag). */
  withLease?<T>(fn: () => Promise<T>): Promise<T>;
  /** The blob is there, with this size. */
  hasBlob(descriptor: Descriptor): Promise<boolean>;
  /** A small blob it holds, verified (the config copyImage checks); sinks that cannot read back leave it out. */
  readBlob?(descriptor: Descriptor): Promise<Uint8Array>;
  /** Copy one blob from the source; nothing unverified becomes visible. */
  writeBlob(o: {
    ref: Reference;
    descriptor: Descriptor;
    source: ImageSource;
    sourceRef: Reference;
    signal?: AbortSignal;
    onProgress?: (current: number) => void;
    onRetry?: (message: string) => void;
  }): Promise<BlobWriteResult>;
  /** Store a manifest's (or an index's) bytes under its digest; the blobs it names are in. */
  writeManifest(ref: Reference, manifest: ResolvedManifest, opts?: { signal?: AbortSignal }): Promise<void>;
  /** Name the manifest: the tag of `ref` (or its digest); `descriptor` carries platform and annotations. */
  tag(ref: Reference, descriptor: Descriptor): Promise<void>;
}
