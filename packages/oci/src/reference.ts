import { Digest } from './digest.js';
import { BerthError } from './errors.js';

export const DEFAULT_REGISTRY = 'docker.io';
export const DEFAULT_TAG = 'latest';
const LEGACY_DEFAULT_REGISTRY = 'index.docker.io';
const OFFICIAL_NAMESPACE = 'library';
const MAX_NAME_LENGTH = 255;

// The docker/distribution reference grammar (reference/regexp.go).
const ALNUM = '[a-z0-9]+';
const SEPARATOR = '(?:[._]|__|[-]+)';
const PATH_COMPONENT = `${ALNUM}(?:${SEPARATOR}${ALNUM})*`;
const DOMAIN_COMPONENT = '(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])';
const DOMAIN_NAME = `${DOMAIN_COMPONENT}(?:\\.${DOMAIN_COMPONENT})*`;
const IPV6 = '\\[(?:[a-fA-F0-9:]+)\\]';
const HOST = `(?:${DOMAIN_NAME}|${IPV6})`;
const DOMAIN = `${HOST}(?::[0-9]+)?`;
const TAG = '[\\w][\\w.-]{0,127}';

const DOMAIN_RE = new RegExp(`^${DOMAIN}$`);
const PATH_RE = new RegExp(`^${PATH_COMPONENT}(?:/${PATH_COMPONENT})*$`);
const TAG_RE = new RegExp(`^${TAG}$`);
/** distribution/reference's anchoredIdentifierRegexp: an image ID, never a name. */
const IDENTIFIER_RE = /^[a-f0-9]{64}$/;

/**
 * A fully-qualified image reference: `registry/repository[:tag][@digest]`.
 * Parsed references are always normalised (`alpine` → `docker.io/library/alpine:latest`).
 */
export class Reference {
  private constructor(
    /** Registry host[:port], e.g. `docker.io`, `127.0.0.1:5000`. */
    readonly registry: string,
    /** Repository path inside the registry, e.g. `library/alpine`. */
    readonly repository: string,
    readonly tag: string | undefined,
    readonly digest: Digest | undefined,
  ) {}

  /**
   * Parse a reference as docker does. A name with no tag and no digest gets `:latest`.
   * Throws EINVAL_REFERENCE with the reason (uppercase, bad tag, bad digest...).
   * The whole input being 64 hex characters is refused, as docker's
   * ParseNormalizedNamed does: that is an image ID (which `Store.getImage`
   * takes), and registries refuse it as a repository name. Only the bare form:
   * `<64 hex>:tag` and `localhost/<64 hex>` are names, as in docker.
   */
  static parse(input: string): Reference {
    const fail = (why: string): never => {
      throw new BerthError('EINVAL_REFERENCE', `invalid reference ${JSON.stringify(input)}: ${why}`);
    };
    if (input.length === 0) fail('the reference is empty');
    if (/\s/.test(input)) fail('contains whitespace');
    if (IDENTIFIER_RE.test(input)) fail('cannot specify 64-byte hexadecimal strings (that is an image ID, not a repository name)');

    let rest = input;
    let digest: Digest | undefined;
    const at = rest.indexOf('@');
    if (at >= 0) {
      const d = rest.slice(at + 1);
      rest = rest.slice(0, at);
      if (!Digest.isValid(d)) fail(`bad digest ${JSON.stringify(d)}`);
      digest = Digest.parse(d);
    }

    let tag: string | undefined;
    const lastColon = rest.lastIndexOf(':');
    if (lastColon > rest.lastIndexOf('/')) {
      tag = rest.slice(lastColon + 1);
      rest = rest.slice(0, lastColon);
      if (!TAG_RE.test(tag)) fail(`bad tag ${JSON.stringify(tag)}`);
    }

    let registry = DEFAULT_REGISTRY;
    let path = rest;
    const slash = rest.indexOf('/');
    if (slash >= 0) {
      const first = rest.slice(0, slash);
      if (first.includes('.') || first.includes(':') || first === 'localhost' || first !== first.toLowerCase()) {
        if (!DOMAIN_RE.test(first)) fail(`bad registry host ${JSON.stringify(first)}`);
        registry = first;
        path = rest.slice(slash + 1);
      }
    }
    if (registry === LEGACY_DEFAULT_REGISTRY) registry = DEFAULT_REGISTRY;
    if (path.length === 0) fail('missing repository name');
    if (path !== path.toLowerCase()) fail('repository name must be lowercase');
    if (!PATH_RE.test(path)) fail(`bad repository name ${JSON.stringify(path)}`);
    if (registry === DEFAULT_REGISTRY && !path.includes('/')) path = `${OFFICIAL_NAMESPACE}/${path}`;
    if (registry.length + 1 + path.length > MAX_NAME_LENGTH) fail(`name longer than ${MAX_NAME_LENGTH} characters`);

    if (tag === undefined && digest === undefined) tag = DEFAULT_TAG;
    return new Reference(registry, path, tag, digest);
  }

  /** Like parse, but returns undefined instead of throwing. */
  static tryParse(input: string): Reference | undefined {
    try {
      return Reference.parse(input);
    } catch {
      return undefined;
    }
  }

  /** `registry/repository` */
  get name(): string {
    return `${this.registry}/${this.repository}`;
  }

  /** What to ask the registry for: the digest if pinned, else the tag. */
  get identifier(): string {
    return this.digest?.toString() ?? this.tag ?? DEFAULT_TAG;
  }

  withTag(tag: string): Reference {
    if (!TAG_RE.test(tag)) throw new BerthError('EINVAL_REFERENCE', `invalid tag ${JSON.stringify(tag)}`);
    return new Reference(this.registry, this.repository, tag, undefined);
  }

  withDigest(digest: Digest | string): Reference {
    return new Reference(this.registry, this.repository, this.tag, typeof digest === 'string' ? Digest.parse(digest) : digest);
  }

  /** The same name in another registry (for mirrors). */
  withRegistry(registry: string): Reference {
    return new Reference(registry, this.repository, this.tag, this.digest);
  }

  /** Full normalised form: `docker.io/library/alpine:latest`, `host:5000/app@sha256:…`. */
  toString(): string {
    return `${this.name}${this.tag !== undefined ? `:${this.tag}` : ''}${this.digest ? `@${this.digest}` : ''}`;
  }

  toJSON(): string {
    return this.toString();
  }

  /** The short form docker shows: `alpine:latest`, `user/app:1`, `host:5000/app:tag`. */
  familiar(): string {
    return `${this.familiarName()}${this.tag !== undefined ? `:${this.tag}` : ''}${this.digest ? `@${this.digest}` : ''}`;
  }

  /** The short repository name: `alpine`, `user/app`, `host:5000/app`. */
  familiarName(): string {
    if (this.registry !== DEFAULT_REGISTRY) return this.name;
    return this.repository.startsWith(`${OFFICIAL_NAMESPACE}/`) && this.repository.split('/').length === 2
      ? this.repository.slice(OFFICIAL_NAMESPACE.length + 1)
      : this.repository;
  }

  equals(other: Reference): boolean {
    return this.toString() === other.toString();
  }
}

/** Is this a valid tag (`[\w][\w.-]{0,127}`)? */
export function isValidTag(tag: string): boolean {
  return TAG_RE.test(tag);
}
