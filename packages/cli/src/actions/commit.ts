import { createReadStream } from 'node:fs';
import { mkdtemp, open as openFile, rm, type FileHandle } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BerthError, HashingStream, hostPlatform, Reference } from '@berth/oci';
import type { Descriptor, ImageConfig } from '@berth/oci';
import type { CommandContext } from '../context.js';
import { usageError } from '../output.js';

type Config = NonNullable<ImageConfig['config']>;

/** The argument of CMD/ENTRYPOINT: a JSON array, or a shell form run by /bin/sh -c (as a Dockerfile's). */
function commandForm(value: string): string[] {
  const v = value.trim();
  if (v.startsWith('[')) {
    const parsed: unknown = JSON.parse(v);
    if (Array.isArray(parsed) && parsed.every((x) => typeof x === 'string')) return parsed as string[];
    throw new Error('expected a JSON array of strings');
  }
  return ['/bin/sh', '-c', v];
}

/**
 * One `--change` instruction applied to the config (docker's subset for commit/import:
 * CMD, ENTRYPOINT, ENV, WORKDIR, USER, LABEL, EXPOSE, VOLUME; others are refused).
 */
export function applyChange(config: Config, change: string): void {
  const m = /^\s*([A-Za-z]+)\s+([\s\S]*)$/.exec(change);
  if (!m) throw usageError(`invalid --change ${JSON.stringify(change)}: expected an instruction and its argument (CMD ["sh"])`);
  const [, word = '', arg = ''] = m;
  try {
    switch (word.toUpperCase()) {
      case 'CMD':
        config.Cmd = commandForm(arg);
        return;
      case 'ENTRYPOINT':
        config.Entrypoint = commandForm(arg);
        return;
      case 'ENV': {
        const eq = arg.indexOf('=');
        const [k, v] = eq > 0 ? [arg.slice(0, eq).trim(), arg.slice(eq + 1)] : [arg.split(/\s+/)[0] ?? '', arg.split(/\s+/).slice(1).join(' ')];
        if (k === '') throw new Error('expected KEY=VALUE');
        config.Env = [...(config.Env ?? []).filter((e) => !e.startsWith(`${k}=`)), `${k}=${v}`];
        return;
      }
      case 'WORKDIR':
        config.WorkingDir = arg.trim();
        return;
      case 'USER':
        config.User = arg.trim();
        return;
      case 'LABEL': {
        const eq = arg.indexOf('=');
        if (eq <= 0) throw new Error('expected KEY=VALUE');
        config.Labels = { ...(config.Labels ?? {}), [arg.slice(0, eq).trim()]: arg.slice(eq + 1).replace(/^"(.*)"$/, '$1') };
        return;
      }
      case 'EXPOSE': {
        const ports = { ...(config.ExposedPorts ?? {}) };
        for (const p of arg.trim().split(/\s+/)) {
          if (!/^\d{1,5}(\/(tcp|udp|sctp))?$/.test(p) || Number(p.split('/')[0]) > 65535) throw new Error(`bad port ${p}`);
          ports[p.includes('/') ? p : `${p}/tcp`] = {};
        }
        config.ExposedPorts = ports;
        return;
      }
      case 'VOLUME': {
        const t = arg.trim();
        const paths = t.startsWith('[') ? (JSON.parse(t) as unknown[]).map(String) : t.split(/\s+/);
        if (paths.length === 0 || paths.some((p) => !p.startsWith('/'))) throw new Error('expected absolute paths');
        config.Volumes = { ...(config.Volumes ?? {}), ...Object.fromEntries(paths.map((p) => [p, {}])) };
        return;
      }
      default:
        throw new Error(`${word.toUpperCase()} is not supported (CMD, ENTRYPOINT, ENV, WORKDIR, USER, LABEL, EXPOSE, VOLUME are)`);
    }
  } catch (err) {
    if (err instanceof BerthError || (err as { exitCode?: number }).exitCode !== undefined) throw err;
    throw usageError(`invalid --change ${JSON.stringify(change)}: ${(err as Error).message}`);
  }
}

type Store = Awaited<ReturnType<CommandContext['store']>>;

/** Writes an image's config and manifest (its layers stored already), tags it `target`; resolves with the manifest digest. */
async function storeImage(store: Store, opts: { config: ImageConfig; layers: Descriptor[]; platform?: Descriptor['platform']; target: Reference | undefined }): Promise<string> {
  const { digest, descriptor } = await store.putImage({ config: opts.config, layers: opts.layers, ...(opts.platform ? { platform: opts.platform } : {}) });
  if (opts.target) await store.setTag(opts.target, descriptor);
  return digest.toString();
}

/** REF of commit/import: a repository[:tag], never a digest. */
function targetRef(verb: string, ref: string | undefined): Reference | undefined {
  const target = ref === undefined ? undefined : Reference.parse(ref);
  if (target?.digest) throw usageError(`${verb}: ${ref} names a digest; give a repository[:tag]`);
  return target;
}

/**
 * `berth commit [-c CHANGE]… [-m MSG] [-a AUTHOR] CONTAINER [REF]`: the container's changes
 * (createLayer against its image's snapshot) as one more layer on top of its image, with the
 * config changes and a history entry; tagged REF if given; prints the new manifest's digest.
 */
export async function commit(ctx: CommandContext, id: string, ref: string | undefined, opts: { change?: string[]; message?: string; author?: string }): Promise<number> {
  const target = targetRef('commit', ref);
  const { Runtime } = await import('@berth/runtime');
  const c = await new Runtime({ stateDir: ctx.loc.state }).inspect(id);
  if (c.image === undefined) throw new BerthError('EUNSUPPORTED', `commit ${c.shortId}: the container was not made from an image in the store`);
  const store = await ctx.store();
  const image = await store.getImage(c.image.digest);
  const config: Config = structuredClone(image.config.config ?? {});
  for (const change of opts.change ?? []) applyChange(config, change);
  const [{ Snapshots }, { createLayer }] = await Promise.all([import('@berth/rootfs'), import('@berth/layers')]);
  const snapshot = await new Snapshots({ root: ctx.snapshotsDir, store }).ensure({ image });
  const work = await mkdtemp(join(tmpdir(), 'berth-commit-'));
  try {
    const blob = join(work, 'layer');
    const layer = await createLayer({ base: snapshot.path, target: c.rootfs, output: blob });
    await store.putBlob(createReadStream(blob), { digest: layer.digest, size: layer.size });
    const created = new Date().toISOString();
    const newConfig: ImageConfig = {
      ...image.config,
      created,
      config,
      ...(opts.author !== undefined ? { author: opts.author } : {}),
      rootfs: { type: 'layers', diff_ids: [...image.config.rootfs.diff_ids, layer.diffId.toString()] },
      history: [
        ...(image.config.history ?? []),
        { created, created_by: `berth commit ${c.name}`, ...(opts.message !== undefined ? { comment: opts.message } : {}), ...(opts.author !== undefined ? { author: opts.author } : {}) },
      ],
    };
    const layers = [...image.manifest.layers, { mediaType: layer.mediaType, digest: layer.digest.toString(), size: layer.size }];
    const digest = await storeImage(store, { config: newConfig, layers, ...(image.descriptor.platform ? { platform: image.descriptor.platform } : {}), target });
    ctx.stdout.write(`${digest}\n`);
    return 0;
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

/** The archive `berth import` reads, opened (not read) before anything else is done. */
async function openInput(file: string): Promise<FileHandle> {
  try {
    return await openFile(file, 'r');
  } catch (err) {
    throw BerthError.wrap(`import ${file}`, err, 'ENOT_FOUND');
  }
}

/**
 * `berth import FILE|- [REF]`: a tar (plain or gzip, from a file or stdin) as a one-layer image
 * for this host's platform, with `--change` and `-m` as commit's; prints the manifest digest.
 * The archive is stored as given (gzip-compressed if it was not); its content is checked when
 * a container is made from it (applyLayer), as for any pulled layer.
 */
export async function importImage(ctx: CommandContext, source: string, ref: string | undefined, opts: { change?: string[]; message?: string }): Promise<number> {
  const target = targetRef('import', ref);
  const config: Config = {};
  for (const change of opts.change ?? []) applyChange(config, change);
  const { compressStream, decompressStream } = await import('@berth/layers');
  const { Readable } = await import('node:stream');
  const { pipeline } = await import('node:stream/promises');
  const { createWriteStream, createReadStream: open } = await import('node:fs');
  // A file is opened now: a missing one is one error line, not a stream's unhandled error later.
  const input: NodeJS.ReadableStream = source === '-' ? ctx.stdin : (await openInput(source)).createReadStream();
  const store = await ctx.store();
  const work = await mkdtemp(join(tmpdir(), 'berth-import-'));
  try {
    // Peek at the first bytes: gzip (1f 8b) is unpacked to hash the tar itself (the diff id).
    const chunks = Readable.from(input as AsyncIterable<Buffer>);
    const it = chunks[Symbol.asyncIterator]();
    const first = await it.next();
    const head: Buffer = first.done ? Buffer.alloc(0) : Buffer.from(first.value as Buffer);
    if (head.length === 0) throw new BerthError('EINVAL_ARGUMENT', 'the archive is empty');
    const rest = Readable.from((async function* () {
      yield head;
      for (let r = await it.next(); !r.done; r = await it.next()) yield r.value as Buffer;
    })());
    const gz = head[0] === 0x1f && head[1] === 0x8b;
    const tarHash = new HashingStream('sha256');
    const blobHash = new HashingStream('sha256');
    const blob = join(work, 'layer');
    const stages: NodeJS.ReadWriteStream[] = gz ? [decompressStream('gzip'), tarHash, compressStream('gzip'), blobHash] : [tarHash, compressStream('gzip'), blobHash];
    await pipeline([rest, ...stages, createWriteStream(blob)]);
    const digest = blobHash.digest();
    await store.putBlob(open(blob), { digest, size: blobHash.bytes });
    const created = new Date().toISOString();
    const platform = hostPlatform();
    const imageConfig: ImageConfig = {
      created,
      architecture: platform.architecture,
      os: platform.os,
      ...(platform.variant ? { variant: platform.variant } : {}),
      config,
      rootfs: { type: 'layers', diff_ids: [tarHash.digest().toString()] },
      history: [{ created, created_by: `berth import ${source}`, ...(opts.message !== undefined ? { comment: opts.message } : {}) }],
    };
    const layers: Descriptor[] = [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: digest.toString(), size: blobHash.bytes }];
    ctx.stdout.write(`${await storeImage(store, { config: imageConfig, layers, platform, target })}\n`);
    return 0;
  } catch (err) {
    throw BerthError.wrap(`import ${source}`, err);
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}
