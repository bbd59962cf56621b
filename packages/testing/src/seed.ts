import { readFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { BerthError, Digest } from '@berth/oci';
import { findBinary, makeTempDir, runChecked } from './util.js';

export interface SeedImageOptions {
  /** Where to push: a RunningRegistry, a fault proxy, or anything with `host` (`127.0.0.1:PORT`). */
  registry: { host: string };
  /** An OCI image layout directory (read-only is fine). */
  layout: string;
  /** Tag in the layout (`org.opencontainers.image.ref.name`); default `latest`. */
  tag?: string;
  /** Repository in the registry, e.g. `library/alpine`. */
  repository: string;
  /** Tag to push as; default the same as `tag`. */
  destinationTag?: string;
  /** For registries with auth (htpasswd, or a token server that knows the user). */
  credentials?: { username: string; password: string };
  /** Copy only the image for the host platform instead of the whole index (`--all`, the default). */
  all?: boolean;
}

export interface SeededImage {
  /** `127.0.0.1:PORT/library/alpine:latest`. */
  reference: string;
  /** Digest of what was pushed at the top (the index for a multi-platform image). */
  digest: Digest;
}

/**
 * Push an OCI layout's tag into a registry with skopeo, digests preserved:
 * `skopeo copy --all --preserve-digests --dest-tls-verify=false oci:<layout>:<tag> docker://<host>/<repo>:<tag>`.
 */
export async function seedImage(opts: SeedImageOptions): Promise<SeededImage> {
  const tag = opts.tag ?? 'latest';
  const destTag = opts.destinationTag ?? tag;
  const reference = `${opts.registry.host}/${opts.repository}:${destTag}`;
  const doing = `seed ${reference} from ${opts.layout}:${tag}`;
  if (!findBinary('skopeo')) throw new BerthError('ERUNTIME', `${doing}: skopeo not found on PATH (install the Debian package skopeo)`);
  if (!existsSync(path.join(opts.layout, 'index.json'))) throw new BerthError('EINVAL_ARGUMENT', `${doing}: not an OCI image layout (no index.json)`);
  if (opts.credentials && opts.credentials.username.includes(':')) {
    throw new BerthError('EINVAL_ARGUMENT', `${doing}: user names for --dest-creds cannot contain ':'`);
  }
  const tmp = await makeTempDir('berth-seed-');
  try {
    const digestFile = path.join(tmp.path, 'digest');
    const args = [
      '--insecure-policy',
      'copy',
      ...(opts.all === false ? [] : ['--all']),
      '--preserve-digests',
      '--dest-tls-verify=false',
      '--retry-times=2',
      '--digestfile',
      digestFile,
      ...(opts.credentials ? ['--dest-creds', `${opts.credentials.username}:${opts.credentials.password}`] : ['--dest-no-creds']),
      `oci:${opts.layout}:${tag}`,
      `docker://${reference}`,
    ];
    // A private auth file so the host's ~/.docker or containers/auth.json never leaks in.
    const env = { ...process.env, REGISTRY_AUTH_FILE: path.join(tmp.path, 'auth.json'), TMPDIR: tmp.path };
    await runChecked('skopeo', args, { doing, env, timeoutMs: 10 * 60_000 });
    const digest = Digest.parse((await readFile(digestFile, 'utf8')).trim());
    return { reference, digest };
  } finally {
    await tmp.cleanup();
  }
}
