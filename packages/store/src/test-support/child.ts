/**
 * A separate OS process for the store's cross-process tests, run with
 * vite-node (see spawnChild in the tests). Commands:
 *   ingest <root> <digest> <size> <seed> <goFile> <chunks>
 *   ingest-half <root> <digest> <size> <seed>      (writes half, prints HALF, then waits to be killed)
 *   put-half <root> <size> <seed>                  (putBlob from a stream that stalls after half; prints HALF)
 *   tag <root> <goFile> <prefix> <count> <digest> <size> <mediaType>
 */
import { existsSync } from 'node:fs';
import { readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { once } from 'node:events';
import { Readable } from 'node:stream';
import { Store } from '../index.js';
import { makeData } from './data.js';

async function waitFor(file: string): Promise<void> {
  while (!existsSync(file)) await sleep(5);
}

async function main(): Promise<void> {
  const args = process.argv.slice(2).filter((a) => a !== '--');
  const [cmd, root] = args;
  if (!cmd || !root) throw new Error('usage: child <cmd> <root> ...');
  const store = await Store.open({ root });
  if (cmd === 'ingest') {
    const [, , digest, size, seed, goFile, chunks] = args as [string, string, string, string, string, string, string];
    const data = makeData(seed, Number(size));
    console.log('READY');
    await waitFor(goFile);
    const ing = await store.ingest({ digest, size: Number(size) });
    if (ing.exists) {
      await ing.release();
      console.log(JSON.stringify({ result: 'exists' }));
      return;
    }
    const startOffset = ing.offset;
    const w = ing.createWriteStream();
    const n = Number(chunks);
    const step = Math.ceil((data.length - startOffset) / n);
    for (let pos = startOffset; pos < data.length; pos += step) {
      if (!w.write(data.subarray(pos, Math.min(pos + step, data.length)))) await once(w, 'drain');
      await sleep(2);
    }
    w.end();
    await once(w, 'finish');
    const res = await ing.commit();
    console.log(JSON.stringify({ result: 'committed', startOffset, size: res.size }));
    return;
  }
  if (cmd === 'ingest-half') {
    const [, , digest, size, seed] = args as [string, string, string, string, string];
    const data = makeData(seed, Number(size));
    const ing = await store.ingest({ digest, size: Number(size) });
    const w = ing.createWriteStream();
    w.end(data.subarray(0, Math.floor(data.length / 2)));
    await once(w, 'finish');
    console.log(`HALF ${ing.offset}`);
    setInterval(() => undefined, 1000); // hold the lock until killed
    return;
  }
  if (cmd === 'put-half') {
    const [, , size, seed] = args as [string, string, string, string];
    const data = makeData(seed, Number(size));
    const half = data.length / 2;
    async function* stalling(): AsyncGenerator<Buffer> {
      yield data.subarray(0, half);
      await new Promise(() => undefined);
    }
    setInterval(() => undefined, 1000); // keep the process alive while the stream stalls
    void store.putBlob(Readable.from(stalling()), { size: data.length });
    // HALF once the first half is in the temp file (Readable.from asks the generator for the
    // next chunk before the first one is written, so that request proves nothing).
    const tmp = path.join(root, 'tmp');
    for (;;) {
      const sizes = await Promise.all((await readdir(tmp).catch(() => [])).map(async (f) => (await stat(path.join(tmp, f)).catch(() => undefined))?.size));
      if (sizes.includes(half)) break;
      await sleep(5);
    }
    console.log('HALF');
    return;
  }
  if (cmd === 'tag') {
    const [, , goFile, prefix, count, digest, size, mediaType] = args as [string, string, string, string, string, string, string, string];
    console.log('READY');
    await waitFor(goFile);
    for (let i = 0; i < Number(count); i++) {
      await store.setTag(`localhost/${prefix}:${i}`, { mediaType, digest, size: Number(size) });
    }
    console.log('DONE');
    return;
  }
  throw new Error(`unknown command ${cmd}`);
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? `${(err as { code?: string }).code ?? ''} ${err.message}` : String(err));
  process.exit(1);
});
