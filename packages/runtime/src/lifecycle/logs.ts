import * as fs from 'node:fs';
import { Readable } from 'node:stream';
import { StringDecoder } from 'node:string_decoder';
import { setTimeout as sleep } from 'node:timers/promises';
import { BerthError } from '@berth/oci';
import type { RuntimeContext } from './context.js';
import { cutPoint, LogEncoder, MAX_ENTRY } from './log-encode.js';
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
  /** The unterminated end of each stream's output so far (less than an entry). */
  private readonly partial: Record<'stdout' | 'stderr', Buffer> = { stdout: Buffer.alloc(0), stderr: Buffer.alloc(0) };
  private readonly encoder = new LogEncoder();

  constructor(file: string) {
    this.fd = fs.openSync(file, 'a', 0o640);
  }

  write(stream: 'stdout' | 'stderr', chunk: Buffer): void {
    if (this.closed || this.failed !== undefined) return;
    const held = this.partial[stream];
    const bytes = held.length === 0 ? chunk : Buffer.concat([held, chunk]);
    const suffix = this.suffix(stream);
    let start = 0;
    for (;;) {
      const nl = bytes.indexOf(0x0a, start);
      const lineEnd = nl < 0 ? bytes.length : nl + 1;
      if (lineEnd - start > MAX_ENTRY) {
        const cut = cutPoint(bytes, start, start + MAX_ENTRY);
        this.encoder.entry(bytes, start, cut, suffix);
        start = cut;
        continue;
      }
      if (nl < 0) break;
      this.encoder.entry(bytes, start, lineEnd, suffix);
      start = lineEnd;
    }
    // A copy: the chunk's memory belongs to its stream.
    this.partial[stream] = Buffer.from(bytes.subarray(start));
    this.flush();
  }

  /** Writes what is left of a stream (an unterminated last line). */
  end(stream: 'stdout' | 'stderr'): void {
    const rest = this.partial[stream];
    this.partial[stream] = Buffer.alloc(0);
    if (rest.length === 0 || this.closed || this.failed !== undefined) return;
    this.encoder.entry(rest, 0, rest.length, this.suffix(stream));
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
  const file = ctx.store.file(id, LOG_FILE);
  /** Every entry of the log, and CAUGHT_UP the first time the reader reaches the end of the file. */
  async function* raw(): AsyncGenerator<LogEntry | typeof CAUGHT_UP> {
    let atEnd = false;
    let fd: number;
    try {
      fd = fs.openSync(file, 'r');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw BerthError.wrap(`read logs of ${id.slice(0, 12)}`, err);
      const state = ctx.store.read(id);
      if (state === undefined) throw new BerthError('ECONTAINER_UNKNOWN', `read logs of ${id.slice(0, 12)}: no such container`);
      // Not started yet, or a foreground container from before foreground output was logged: nothing to show.
      return;
    }
    try {
      let pending = '';
      const decoder = new StringDecoder('utf8');
      const buf = Buffer.alloc(64 * 1024);
      let position = 0;
      let lastLook = false;
      for (;;) {
        const n = fs.readSync(fd, buf, 0, buf.length, position);
        if (n > 0) {
          position += n;
          pending += decoder.write(buf.subarray(0, n));
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
          continue;
        }
        if (!atEnd) {
          atEnd = true;
          yield CAUGHT_UP;
        }
        if (!opts.follow || lastLook) return;
        const state = ctx.store.read(id);
        if (state === undefined || describe(state).status === 'stopped') {
          // The monitor finishes the log before it records the exit: read once more, then stop.
          lastLook = true;
          continue;
        }
        await sleep(100);
      }
    } finally {
      fs.closeSync(fd);
    }
  }
  return Readable.from(entries(), { objectMode: true });
}
