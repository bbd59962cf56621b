/** Media types from the OCI image spec and Docker's v2 schema 2. */
export const MediaType = {
  OciIndex: 'application/vnd.oci.image.index.v1+json',
  OciManifest: 'application/vnd.oci.image.manifest.v1+json',
  OciConfig: 'application/vnd.oci.image.config.v1+json',
  OciLayer: 'application/vnd.oci.image.layer.v1.tar',
  OciLayerGzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
  OciLayerZstd: 'application/vnd.oci.image.layer.v1.tar+zstd',
  OciLayerNondistributable: 'application/vnd.oci.image.layer.nondistributable.v1.tar',
  OciLayerNondistributableGzip: 'application/vnd.oci.image.layer.nondistributable.v1.tar+gzip',
  OciLayerNondistributableZstd: 'application/vnd.oci.image.layer.nondistributable.v1.tar+zstd',
  OciEmpty: 'application/vnd.oci.empty.v1+json',
  DockerManifestList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  DockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  DockerManifestV1: 'application/vnd.docker.distribution.manifest.v1+json',
  DockerManifestV1Signed: 'application/vnd.docker.distribution.manifest.v1+prettyjws',
  DockerConfig: 'application/vnd.docker.container.image.v1+json',
  DockerLayerGzip: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
  DockerLayer: 'application/vnd.docker.image.rootfs.diff.tar',
  DockerForeignLayerGzip: 'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip',
} as const;
export type MediaTypeName = (typeof MediaType)[keyof typeof MediaType];

/** Every manifest type a registry may answer with, in preference order, for `Accept`. */
export const MANIFEST_ACCEPT: readonly string[] = [
  MediaType.OciIndex,
  MediaType.DockerManifestList,
  MediaType.OciManifest,
  MediaType.DockerManifest,
];

export function isIndexMediaType(mt: string | undefined): boolean {
  return mt === MediaType.OciIndex || mt === MediaType.DockerManifestList;
}

export function isManifestMediaType(mt: string | undefined): boolean {
  return mt === MediaType.OciManifest || mt === MediaType.DockerManifest;
}

export function isSchema1MediaType(mt: string | undefined): boolean {
  return mt === MediaType.DockerManifestV1 || mt === MediaType.DockerManifestV1Signed;
}

/** An OCI index, Docker manifest list, OCI manifest or Docker v2 manifest: a document a registry serves as a manifest. */
export function isImageMediaType(mt: string | undefined): boolean {
  return isIndexMediaType(mt) || isManifestMediaType(mt);
}

/** `application/vnd.oci.image.manifest.v1+json; charset=utf-8` → the media type alone, lower case ('' when absent). */
export function contentTypeMediaType(contentType: string | undefined): string {
  return (contentType ?? '').split(';')[0]?.trim().toLowerCase() ?? '';
}

/**
 * The media type of a manifest or index document: the one place berth decides
 * what a document is (the registry client, push and the store use it). `doc`
 * is the bytes (JSON that does not parse is nothing) or the parsed value;
 * `contentType` is what a registry said about it (`Content-Type`), if any.
 *
 * 1. Schema 1 (a schema 1 `Content-Type` or `mediaType`, or `schemaVersion: 1`):
 *    that schema 1 type (`DockerManifestV1Signed` when only the version says so).
 * 2. A (non-empty) `mediaType` in the document decides: an index or manifest type is the
 *    answer, any other type means it is neither (undefined).
 * 3. Else a `Content-Type` that is an index or manifest type.
 * 4. Else the shape: `manifests: []` is an OCI index, `config: {}` with
 *    `layers: []` an OCI manifest.
 *
 * Otherwise undefined. No I/O and no zod: `isImageMediaType` and
 * `isSchema1MediaType` sort the answer.
 */
export function detectMediaType(doc: unknown, opts: { contentType?: string | undefined } = {}): string | undefined {
  const ct = contentTypeMediaType(opts.contentType);
  let value = doc;
  if (doc instanceof Uint8Array) {
    try {
      value = JSON.parse(new TextDecoder().decode(doc));
    } catch {
      return isSchema1MediaType(ct) ? ct : undefined;
    }
  }
  const obj = value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : {};
  const declared = typeof obj['mediaType'] === 'string' && obj['mediaType'] !== '' ? obj['mediaType'] : undefined;
  if (isSchema1MediaType(ct)) return ct;
  if (isSchema1MediaType(declared)) return declared;
  if (obj['schemaVersion'] === 1) return MediaType.DockerManifestV1Signed;
  if (declared !== undefined) return isImageMediaType(declared) ? declared : undefined;
  if (isImageMediaType(ct)) return ct;
  if (Array.isArray(obj['manifests'])) return MediaType.OciIndex;
  const config = obj['config'];
  if (config !== null && typeof config === 'object' && Array.isArray(obj['layers'])) return MediaType.OciManifest;
  return undefined;
}

export type LayerCompression = 'none' | 'gzip' | 'zstd';

export interface LayerMediaInfo {
  compression: LayerCompression;
  /** Foreign / non-distributable: registries may not hold the blob. */
  nondistributable: boolean;
}

const LAYER_TYPES: Record<string, LayerMediaInfo> = {
  [MediaType.OciLayer]: { compression: 'none', nondistributable: false },
  [MediaType.OciLayerGzip]: { compression: 'gzip', nondistributable: false },
  [MediaType.OciLayerZstd]: { compression: 'zstd', nondistributable: false },
  [MediaType.OciLayerNondistributable]: { compression: 'none', nondistributable: true },
  [MediaType.OciLayerNondistributableGzip]: { compression: 'gzip', nondistributable: true },
  [MediaType.OciLayerNondistributableZstd]: { compression: 'zstd', nondistributable: true },
  [MediaType.DockerLayerGzip]: { compression: 'gzip', nondistributable: false },
  [MediaType.DockerLayer]: { compression: 'none', nondistributable: false },
  [MediaType.DockerForeignLayerGzip]: { compression: 'gzip', nondistributable: true },
};

/** What a layer media type says about its encoding, or undefined if it is not a layer type we know. */
export function layerMediaInfo(mt: string): LayerMediaInfo | undefined {
  return LAYER_TYPES[mt];
}

/** The OCI layer media type for a compression. */
/** A layer's compression from its first bytes (gzip `1f 8b`, zstd `28 b5 2f fd`), for layers whose media type does not say. */
export function detectLayerCompression(head: Uint8Array): LayerCompression {
  if (head[0] === 0x1f && head[1] === 0x8b) return 'gzip';
  if (head[0] === 0x28 && head[1] === 0xb5 && head[2] === 0x2f && head[3] === 0xfd) return 'zstd';
  return 'none';
}

export function ociLayerMediaType(compression: LayerCompression): string {
  switch (compression) {
    case 'gzip':
      return MediaType.OciLayerGzip;
    case 'zstd':
      return MediaType.OciLayerZstd;
    case 'none':
      return MediaType.OciLayer;
  }
}
