import * as fs from 'node:fs';
import { Readable } from 'node:stream';
import { StringDecoder } from 'node:string_decoder';
import { setTimeout as sleep } from 'node:timers/promises';
import { BerthError } from '@berth/oci';
import type { RuntimeContext } from './context.js';
import { LineCutter, LogEncoder } from './log-encode.js';
import { RAW_LOG_FILE, RawLogDecoder } from './raw-log.js';
import { describe } from './state.js';

/** One entry of `container.log`, docker's json-file format: `{"log":"line\n","stream":"stdout","time":"…"}`. */
export interface LogEntry {
  log: string;
  stream: 'stdout' | 'stderr';
  time: string;
}

export const LOG_FILE = 'container.log';

/** readLogs(): the reader has reached the end of the log as it was. */
const CAUGHT_UP = Symbol('caught up');

interface EntryDecoder {
  push(data: Buffer): Iterable<LogEntry>;
  end(): Iterable<LogEntry>;
}

/** json-file lines (a torn or foreign line is skipped). */
function jsonDecoder(): EntryDecoder {
  let pending = '';
  const decoder = new StringDecoder('utf8');
  return {
    *push(data) {
      pending += decoder.write(data);
      let nl: number;
      while ((nl = pending.indexOf('\n')) >= 0) {
        const line = pending.slice(0, nl);
        pending = pending.slice(nl + 1);
        if (line.trim() === '') continue;
        try {
          yield JSON.parse(line) as LogEntry;
        } catch {
          // A torn or foreign line: skip it.
        }
      }
    },
    end: () => [],
  };
}

/** RAW_LOG_FILE's frames, as entries (RawLogDecoder). */
function rawDecoder(): EntryDecoder {
  const d = new RawLogDecoder();
  let ended = false;
  return {
    push: (data) => d.push(data),
    end: () => {
      if (ended) return [];
      ended = true;
      return d.end();
    },
  };
}

/**
 * Appends a container's output to its log, one JSON object per line of output
 * (a partial last line is written when its stream ends; a line longer than 16 KiB
 * is cut into entries of at most that, as docker does). Each write() call's
 * entries go out in one synchronous append, so a reader never sees half an entry.
 * Encoding works on the bytes (LogEncoder): the runtime's foreground relay calls
 * write() for every chunk it passes on, and JS strings of binary output cost
 * more than the relay itself.
 */
export class LogWriter {
  private readonly fd: number;
  private closed = false;
  /** The write that failed, if one did (nothing more is written after it). */
  failed: Error | undefined;
  private readonly cutter = new LineCutter();
  private readonly encoder = new LogEncoder();

  constructor(file: string) {
    this.fd = fs.openSync(file, 'a', 0o640);
  }

  write(stream: 'stdout' | 'stderr', chunk: Buffer): void {
    if (this.closed || this.failed !== undefined) return;
    const suffix = this.suffix(stream);
    this.cutter.push(stream, chunk, (bytes, start, end) => this.encoder.entry(bytes, start, end, suffix));
    this.flush();
  }

  /** Writes what is left of a stream (an unterminated last line). */
  end(stream: 'stdout' | 'stderr'): void {
    if (this.closed || this.failed !== undefined) return;
    this.cutter.end(stream, (bytes, start, end) => this.encoder.entry(bytes, start, end, this.suffix(stream)));
    this.flush();
  }

  /** Connects a readable (the container's stdout or stderr) to the log; resolves at its end. */
  follow(stream: 'stdout' | 'stderr', source: NodeJS.ReadableStream): Promise<void> {
    return new Promise((resolve) => {
      source.on('data', (chunk: Buffer | string) => this.write(stream, typeof chunk === 'string' ? Buffer.from(chunk) : chunk));
      const done = (): void => {
        this.end(stream);
        resolve();
      };
      source.once('end', done);
      source.once('error', done);
    });
  }

  /** The end of an entry: `","stream":"stdout","time":"<now>"}\n`. */
  private suffix(stream: 'stdout' | 'stderr'): Buffer {
    return Buffer.from(`","stream":"${stream}","time":"${new Date().toISOString()}"}\n`);
  }

  private flush(): void {
    if (this.encoder.length === 0) return;
    const data = this.encoder.take();
    try {
      let done = 0;
      while (done < data.length) done += fs.writeSync(this.fd, data, done);
    } catch (err) {
      // A full disk must not stop the container's output from reaching its reader: logging stops.
      this.failed = err as Error;
    }
  }

  /** Closes the file; later writes are ignored (output still arriving after the container's end). */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    fs.closeSync(this.fd);
  }
}

/** What readLogs() returns, docker's `logs` options. */
export interface LogsOptions {
  /** Keep reading as the log grows, until the container has stopped and the log is drained. */
  follow?: boolean;
  /** Only the last `tail` entries written so far (then, with `follow`, everything new). */
  tail?: number;
  /** Only entries written at or after this time. */
  since?: Date;
  /** Only entries written before this time. */
  until?: Date;
}

/**
 * `logs`: the container's log entries as an object-mode Readable of LogEntry.
 * With `follow`, keeps reading as the log grows until the container has
 * stopped and everything written has been read. `since`/`until` filter by the
 * entries' times; `tail` keeps the last N entries (of those) written so far.
 */
export function readLogs(ctx: RuntimeContext, id: string, opts: LogsOptions = {}): Readable {
  const since = opts.since?.getTime();
  const until = opts.until?.getTime();
  const wanted = (e: LogEntry): boolean => {
    if (since === undefined && until === undefined) return true;
    const t = Date.parse(e.time);
    return !((since !== undefined && t < since) || (until !== undefined && t >= until));
  };
  async function* entries(): AsyncGenerator<LogEntry> {
    const tail = opts.tail;
    // With `tail`: the last entries up to the end of what is written now, then (follow) the rest as it comes.
    let held: LogEntry[] | undefined = tail === undefined ? undefined : [];
    for await (const e of raw()) {
      if (e === CAUGHT_UP) {
        // The first time only: later ones (each look at the end while following) find held undefined.
        if (held !== undefined) yield* held;
        held = undefined;
        continue;
      }
      if (!wanted(e)) continue;
      if (held === undefined) {
        yield e;
      } else if (tail !== undefined && tail > 0) {
        held.push(e);
        if (held.length > tail) held.shift();
      }
    }
  }
  /** The container's stopped (or gone): its output is complete. */
  const stopped = (): boolean => {
    const state = ctx.store.read(id);
    return state === undefined || describe(state).status === 'stopped';
  };
  /**
   * Every entry of the log, and CAUGHT_UP the first time the reader reaches the end. A
   * foreground container's output is in RAW_LOG_FILE (frames, decoded here), a detached one's
   * in LOG_FILE (json-file lines); one started both ways has both, read in that order.
   */
  async function* raw(): AsyncGenerator<LogEntry | typeof CAUGHT_UP> {
    const files: Array<{ fd: number; kind: 'raw' | 'json' }> = [];
    try {
      for (const [name, kind] of [
        [RAW_LOG_FILE, 'raw'],
        [LOG_FILE, 'json'],
      ] as const) {
        try {
          files.push({ fd: fs.openSync(ctx.store.file(id, name), 'r'), kind });
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw BerthError.wrap(`read logs of ${id.slice(0, 12)}`, err);
        }
      }
      if (files.length === 0) {
        if (ctx.store.read(id) === undefined) throw new BerthError('ECONTAINER_UNKNOWN', `read logs of ${id.slice(0, 12)}: no such container`);
        // Not started yet, or run with --log-driver none: nothing to show.
        return;
      }
      const buf = Buffer.alloc(64 * 1024);
      for (const [i, { fd, kind }] of files.entries()) {
        const last = i === files.length - 1;
        const decode = kind === 'raw' ? rawDecoder() : jsonDecoder();
        let position = 0;
        let lastLook = false;
        for (;;) {
          const n = fs.readSync(fd, buf, 0, buf.length, position);
          if (n > 0) {
            position += n;
            yield* decode.push(buf.subarray(0, n));
            continue;
          }
          // The end of what is written: a foreground container's unterminated last lines once it has stopped.
          const done = !last || lastLook || stopped();
          if (done) yield* decode.end();
          if (!last) break;
          yield CAUGHT_UP;
          if (!opts.follow || lastLook) return;
          if (done) {
            // The monitor finishes the log before it records the exit: read once more, then stop.
            lastLook = true;
            continue;
          }
          await sleep(100);
        }
      }
    } finally {
      for (const { fd } of files) fs.closeSync(fd);
    }
  }
  return Readable.from(entries(), { objectMode: true });
}
