// Test support for the CLI's unit tests (src/**/*.test.ts); not part of the build (tsconfig excludes src/test-support).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable, Writable } from 'node:stream';
import type { RegistryClient } from '@berth/registry';
import type { Store } from '@berth/store';
import { Context } from '../context.js';
import { main } from '../main.js';

/** A stdout or stderr that keeps what was written, and says it is a terminal when asked to. */
export class Capture extends Writable {
  private readonly chunks: Buffer[] = [];

  constructor(readonly isTTY = false) {
    super();
  }

  override _write(chunk: Buffer | string, _enc: BufferEncoding, done: (err?: Error | null) => void): void {
    this.chunks.push(Buffer.from(chunk));
    done();
  }

  get text(): string {
    return Buffer.concat(this.chunks).toString('utf8');
  }
}

export interface FakeContextOptions {
  /** What stdin holds (default: nothing, at EOF). */
  stdin?: string;
  /** Pretend stdin is a terminal (with setRawMode reported to onSetRawMode). */
  stdinIsTTY?: boolean;
  onSetRawMode?: (raw: boolean) => void;
  /** Pretend stdout is a terminal. */
  stdoutIsTTY?: boolean;
  /** BERTH_ROOT and BERTH_STATE under this directory (default: a fresh temp directory). */
  dir?: string;
  env?: NodeJS.ProcessEnv;
}

/**
 * The real Context on a throwaway BERTH_ROOT and BERTH_STATE, with captured stdout and stderr,
 * a given stdin, and a record of whether the store or the registry client was opened (a
 * bad flag must fail before either is).
 */
export class FakeContext extends Context {
  readonly opened: ('store' | 'registry')[] = [];
  declare readonly stdout: Capture;
  declare readonly stderr: Capture;

  constructor(readonly dir: string, opts: FakeContextOptions = {}) {
    super({
      env: { BERTH_ROOT: path.join(dir, 'root'), BERTH_STATE: path.join(dir, 'state'), BERTH_CONFIG: path.join(dir, 'config.yaml'), TERM: 'dumb', ...opts.env },
      stdin: fakeStdin(opts),
      stdout: new Capture(opts.stdoutIsTTY),
      stderr: new Capture(),
    });
  }

  override store(): Promise<Store> {
    this.opened.push('store');
    return super.store();
  }

  override registry(): Promise<RegistryClient> {
    this.opened.push('registry');
    return super.registry();
  }
}

/** The given stdin bytes; with stdinIsTTY, a terminal's isTTY and setRawMode. */
function fakeStdin(opts: FakeContextOptions): Readable {
  const stdin = Readable.from(opts.stdin === undefined ? [] : [Buffer.from(opts.stdin)]);
  if (opts.stdinIsTTY) {
    Object.assign(stdin, {
      isTTY: true,
      setRawMode: (raw: boolean) => {
        opts.onSetRawMode?.(raw);
        return stdin;
      },
    });
  }
  return stdin;
}

/** A temp directory for FakeContexts, removed by `remove()`. */
export function tempDir(): { dir: string; remove: () => void } {
  const dir = mkdtempSync(path.join(tmpdir(), 'berth-cli-unit-'));
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

export interface BerthRun {
  code: number;
  stdout: string;
  stderr: string;
  ctx: FakeContext;
}

/** `main(argv)` against a FakeContext in `dir` (a fresh one removed afterwards when not given). */
export async function berth(argv: string[], opts: FakeContextOptions = {}): Promise<BerthRun> {
  const tmp = opts.dir === undefined ? tempDir() : undefined;
  try {
    const ctx = new FakeContext(opts.dir ?? (tmp as { dir: string }).dir, opts);
    const code = await main(argv, ctx);
    return { code, stdout: ctx.stdout.text, stderr: ctx.stderr.text, ctx };
  } finally {
    tmp?.remove();
  }
}

/** What commander and main() print after a usage error. */
export const USAGE_HINT_LINE = '(run "berth --help" for usage)\n';
