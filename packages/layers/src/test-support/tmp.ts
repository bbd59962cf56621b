/** A fresh temp dir for each test of the file that calls `tempDirEach()`, removed after it. */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach } from 'vitest';

export interface TempDirEach {
  /** The current test's dir. */
  readonly path: string;
  /** Writes `content` to `name` in the dir (a Buffer name: bytes, not UTF-8); returns its path. */
  file(name: string | Buffer, content?: string): string | Buffer;
}

export function tempDirEach(prefix: string): TempDirEach {
  let dir = '';
  beforeEach(() => {
    dir = mkdtempSync(path.join(tmpdir(), prefix));
  });
  afterEach(() => {
    rmSync(dir, { recursive: true, force: true });
  });
  return {
    get path() {
      return dir;
    },
    file(name, content = '') {
      const p = typeof name === 'string' ? path.join(dir, name) : Buffer.concat([Buffer.from(`${dir}/`), name]);
      writeFileSync(p, content);
      return p;
    },
  };
}
