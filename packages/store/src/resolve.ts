import {
  BerthError,
  Digest,
  availablePlatforms,
  configPlatform,
  Reference,
  formatPlatform,
  hostPlatform,
  isIndexMediaType,
  isManifestMediaType,
  isUnknownPlatform,
  normalisePlatform,
  platformMatches,
  selectPlatform,
} from '@berth/oci';
import type { Descriptor, ImageConfig, Index, Manifest, Platform } from '@berth/oci';
import type { BlobStore } from './blobs.js';
import { wrapError } from './fsutil.js';
import { readConfig, readIndex, readManifest, sniff } from './manifests.js';
import { INDEX_DIGEST_ANNOTATION, REF_NAME_ANNOTATION, type RefStore } from './refs.js';

const FULL_DIGEST_RE = /^(?:sha256:[a-f0-9]{64}|sha512:[a-f0-9]{128})$/;

export interface GetImageOptions {
  /** Which manifest to take from an index; default the host's. Also checked against a single-platform image's config when given. */
  platform?: Platform;
}

export interface StoredImage {
  /** The tag or digest reference it was found by, when it was found by one. */
  reference?: Reference;
  /** The image manifest's descriptor (the platform-specific one when the tag names an index). */
  descriptor: Descriptor;
  manifest: Manifest;
  config: ImageConfig;
  configDescriptor: Descriptor;
  /** The index the manifest was chosen from, if the tag or digest named an index. */
  index?: Descriptor;
}

interface Candidate {
  digest: string;
  target: Descriptor;
  via: 'self' | 'config';
}

/**
 * Image resolution over the refs and the blobs: a tag, a digest reference, a
 * digest (of a manifest, an index or a config) or a short ID leads to one
 * stored image manifest, chosen from an index by platform.
 */
export class ImageResolver {
  constructor(
    private readonly blobs: BlobStore,
    private readonly refs: RefStore,
  ) {}

  /**
   * Find an image by tag (`alpine`, `docker.io/library/alpine:latest`), by
   * digest reference (`alpine@sha256:…`), by digest (`sha256:…` or 64 hex, of
   * a manifest, an index or a config), or by a unique hex prefix of one of
   * those (like docker's short image IDs). An index is narrowed to
   * `opts.platform` (default: the host's); ENO_MATCHING_PLATFORM lists what
   * the index offers.
   */
  async getImage(refOrDigest: Reference | string, opts: GetImageOptions = {}): Promise<StoredImage> {
    const label = typeof refOrDigest === 'string' ? refOrDigest : refOrDigest.toString();
    const what = `get image ${label}`;
    try {
      const wanted = opts.platform ? normalisePlatform(opts.platform) : hostPlatform();
      const found = await this.findImage(refOrDigest, what, wanted);
      return await this.loadImage(found.descriptor, { reference: found.reference, wanted, explicit: opts.platform !== undefined, what }, 0);
    } catch (err) {
      throw wrapError(what, err);
    }
  }

  private async findImage(input: Reference | string, what: string, wanted: Platform): Promise<{ descriptor: Descriptor; reference?: Reference }> {
    if (input instanceof Reference) {
      if (input.digest) return { descriptor: await this.findByDigestReference(input, input.digest, what, wanted), reference: input };
      const d = await this.refs.get(input);
      if (!d) throw new BerthError('EIMAGE_UNKNOWN', `${what}: no such image in the store`);
      return { descriptor: d, reference: input };
    }
    if (typeof input !== 'string' || input.length === 0) throw new BerthError('EINVAL_ARGUMENT', `${what}: expected a reference or a digest`);
    if (FULL_DIGEST_RE.test(input)) return { descriptor: await this.describeStored(Digest.parse(input), what) };
    if (/^[a-f0-9]{64}$/.test(input)) return { descriptor: await this.describeStored(Digest.parse(`sha256:${input}`), what) };
    const ref = Reference.tryParse(input);
    if (ref) {
      if (ref.digest) return { descriptor: await this.findByDigestReference(ref, ref.digest, what, wanted), reference: ref };
      const d = await this.refs.get(ref);
      if (d) return { descriptor: d, reference: ref };
    }
    const prefix = /^(?:sha256:)?([a-f0-9]{1,63})$/.exec(input)?.[1];
    if (prefix !== undefined) {
      const d = await this.findByPrefix(prefix, what);
      if (d) return { descriptor: d };
    }
    const shown = ref ? ref.toString() : input;
    throw new BerthError('EIMAGE_UNKNOWN', `${what}: no such image in the store${shown !== input ? ` (${shown})` : ''}`);
  }

  /**
   * `NAME@DIGEST`: the stored manifest or index of that digest; else the tags pulled from an
   * index of that digest, whose platform manifests the store keeps but not the index (the tag
   * `NAME@DIGEST` itself, and tags of NAME annotated with the index digest): the one for
   * `wanted`, else the first.
   */
  private async findByDigestReference(ref: Reference, digest: Digest, what: string, wanted: Platform): Promise<Descriptor> {
    if ((await this.blobs.size(digest)) !== undefined) return this.describeStored(digest, what);
    const fullName = ref.toString();
    const candidates = (await this.refs.entries()).filter((m) => {
      const tag = m.annotations?.[REF_NAME_ANNOTATION];
      if (tag === undefined) return false;
      return tag === fullName || (m.annotations?.[INDEX_DIGEST_ANNOTATION] === digest.toString() && Reference.tryParse(tag)?.name === ref.name);
    });
    const chosen = selectPlatform(candidates, wanted) ?? candidates[0];
    if (chosen) return { ...chosen };
    throw new BerthError('EIMAGE_UNKNOWN', `${what}: ${digest} is not in the store`);
  }

  /** A descriptor for a stored manifest or index found by digest; a config digest leads to its tagged manifest. */
  private async describeStored(digest: Digest, what: string): Promise<Descriptor> {
    const size = await this.blobs.size(digest);
    if (size === undefined) throw new BerthError('EIMAGE_UNKNOWN', `${what}: ${digest} is not in the store`);
    const kind = await sniff(this.blobs, digest, size);
    if (kind.mediaType) return { mediaType: kind.mediaType, digest: digest.toString(), size };
    if (kind.config) {
      const owners = (await this.imageCandidates()).filter((c) => c.via === 'config' && c.digest === digest.toString());
      const target = owners[0]?.target;
      if (target) return target;
      throw new BerthError('EIMAGE_UNKNOWN', `${what}: ${digest} is an image config that no stored manifest in the tags uses`);
    }
    throw new BerthError('EIMAGE_UNKNOWN', `${what}: ${digest} is not an image manifest or index`);
  }

  /**
   * What an image ID may name: every index.json entry, the platform manifests
   * of tagged indexes that are stored, and the configs of those manifests.
   */
  private async imageCandidates(): Promise<Candidate[]> {
    const out: Candidate[] = [];
    const addManifest = async (d: Descriptor): Promise<void> => {
      out.push({ digest: d.digest, target: d, via: 'self' });
      try {
        const m = await readManifest(this.blobs, d);
        out.push({ digest: m.config.digest, target: d, via: 'config' });
      } catch {
        // Not stored or not readable: it simply is not a candidate by config.
      }
    };
    for (const entry of await this.refs.entries()) {
      if (isIndexMediaType(entry.mediaType)) {
        out.push({ digest: entry.digest, target: entry, via: 'self' });
        let index: Index;
        try {
          index = await readIndex(this.blobs, entry);
        } catch {
          continue;
        }
        for (const child of index.manifests) {
          if (isManifestMediaType(child.mediaType) && !isUnknownPlatform(child.platform) && (await this.blobs.has(child.digest))) await addManifest(child);
        }
      } else {
        await addManifest(entry);
      }
    }
    return out;
  }

  /**
   * A short ID: first among the tags' candidates; then, for untagged images (kept by
   * GC roots or not yet collected), among the stored blobs whose hex starts with the
   * prefix. The OCI layout is one flat directory per algorithm with no index by
   * prefix, so this reads its entries, as a stream (bounded memory), and reads
   * only the blobs whose names match.
   */
  private async findByPrefix(prefix: string, what: string): Promise<Descriptor | undefined> {
    const matches = (await this.imageCandidates()).filter((c) => c.digest.startsWith(`sha256:${prefix}`));
    const targets = new Map(matches.map((m) => [m.target.digest, m.target]));
    if (targets.size > 1) {
      throw new BerthError('EINVAL_ARGUMENT', `${what}: ambiguous image ID prefix, matches ${[...targets.keys()].join(', ')}`);
    }
    const only = [...targets.values()][0];
    if (only) return only;
    const found: Descriptor[] = [];
    for await (const blob of this.blobs.list({ algorithm: 'sha256', hexPrefix: prefix })) {
      const kind = await sniff(this.blobs, blob.digest, blob.size);
      if (kind.mediaType) found.push({ mediaType: kind.mediaType, digest: blob.digest.toString(), size: blob.size });
    }
    if (found.length > 1) throw new BerthError('EINVAL_ARGUMENT', `${what}: ambiguous image ID prefix, matches ${found.map((f) => f.digest).join(', ')}`);
    return found[0];
  }

  private async loadImage(
    desc: Descriptor,
    ctx: { reference: Reference | undefined; wanted: Platform; explicit: boolean; what: string },
    depth: number,
  ): Promise<StoredImage> {
    if (isIndexMediaType(desc.mediaType)) {
      if (depth >= 4) throw new BerthError('EINVAL_MANIFEST', `${ctx.what}: indexes nested more than 4 deep`);
      const index = await readIndex(this.blobs, desc);
      const chosen = selectPlatform(index.manifests, ctx.wanted);
      if (!chosen) {
        const available = availablePlatforms(index.manifests);
        throw new BerthError(
          'ENO_MATCHING_PLATFORM',
          `${ctx.what}: no manifest for ${formatPlatform(ctx.wanted)} (available: ${available.length > 0 ? available.join(', ') : 'none'})`,
          { details: { wanted: formatPlatform(ctx.wanted), available } },
        );
      }
      if (!(await this.blobs.has(chosen.digest))) {
        throw new BerthError('EIMAGE_UNKNOWN', `${ctx.what}: the ${formatPlatform(normalisePlatform(chosen.platform as Platform))} manifest ${chosen.digest} is not in the store (pull that platform)`);
      }
      const image = await this.loadImage(chosen, ctx, depth + 1);
      return depth === 0 ? { ...image, index: desc } : image;
    }
    const manifest = await readManifest(this.blobs, desc);
    const configDescriptor = manifest.config;
    const config = await readConfig(this.blobs, configDescriptor);
    const actual = configPlatform(config);
    if (ctx.explicit && !platformMatches(ctx.wanted, actual)) {
      throw new BerthError('ENO_MATCHING_PLATFORM', `${ctx.what}: image is ${formatPlatform(normalisePlatform(actual))}, not ${formatPlatform(ctx.wanted)}`, {
        details: { wanted: formatPlatform(ctx.wanted), available: [formatPlatform(normalisePlatform(actual))] },
      });
    }
    const image: StoredImage = { descriptor: desc, manifest, config, configDescriptor };
    if (ctx.reference) image.reference = ctx.reference;
    return image;
  }
}
