import * as fs from 'node:fs';
import { Readable } from 'node:stream';
import { StringDecoder } from 'node:string_decoder';
import { setTimeout as sleep } from 'node:timers/promises';
import { BerthError } from '@berth/oci';
import type { RuntimeContext } from './context.js';
import { describe } from './state.js';

/** One entry of `container.log`, docker's json-file format: `{"log":"line\n","stream":"stdout","time":"…"}`. */
export interface LogEntry {
  log: string;
  stream: 'stdout' | 'stderr';
  time: string;
}

export const LOG_FILE = 'container.log';

/**
 * Appends a container's output to its log, one JSON object per line of output
 * (a partial last line is written when its stream ends). Writes are
 * synchronous appends, so a reader never sees half an entry.
 */
export class LogWriter {
  private readonly fd: number;
  private readonly partial = { stdout: '', stderr: '' };
  private readonly decoders = { stdout: new StringDecoder('utf8'), stderr: new StringDecoder('utf8') };

  constructor(file: string) {
    this.fd = fs.openSync(file, 'a', 0o640);
  }

  write(stream: 'stdout' | 'stderr', chunk: Buffer): void {
    let text = this.partial[stream] + this.decoders[stream].write(chunk);
    let nl: number;
    const lines: string[] = [];
    while ((nl = text.indexOf('\n')) >= 0) {
      lines.push(text.slice(0, nl + 1));
      text = text.slice(nl + 1);
    }
    this.partial[stream] = text;
    this.append(stream, lines);
  }

  /** Writes what is left of a stream (an unterminated last line). */
  end(stream: 'stdout' | 'stderr'): void {
    const rest = this.partial[stream] + this.decoders[stream].end();
    this.partial[stream] = '';
    if (rest !== '') this.append(stream, [rest]);
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

  private append(stream: 'stdout' | 'stderr', lines: string[]): void {
    if (lines.length === 0) return;
    const time = new Date().toISOString();
    const data = lines.map((log) => JSON.stringify({ log, stream, time } satisfies LogEntry)).join('\n') + '\n';
    fs.writeSync(this.fd, data);
  }

  close(): void {
    fs.closeSync(this.fd);
  }
}

/**
 * `logs`: the container's log entries as an object-mode Readable of LogEntry.
 * With `follow`, keeps reading as the log grows until the container has
 * stopped and everything written has been read.
 */
export function readLogs(ctx: RuntimeContext, id: string, opts: { follow?: boolean } = {}): Readable {
  const file = ctx.store.file(id, LOG_FILE);
  async function* entries(): AsyncGenerator<LogEntry> {
    let fd: number;
    try {
      fd = fs.openSync(file, 'r');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw BerthError.wrap(`read logs of ${id.slice(0, 12)}`, err);
      const state = ctx.store.read(id);
      if (state === undefined) throw new BerthError('ECONTAINER_UNKNOWN', `read logs of ${id.slice(0, 12)}: no such container`);
      if (!state.detached) {
        throw new BerthError('EUNSUPPORTED', `read logs of ${id.slice(0, 12)}: only detached containers keep a log`);
      }
      return;
    }
    try {
      let pending = '';
      const buf = Buffer.alloc(64 * 1024);
      let position = 0;
      let lastLook = false;
      for (;;) {
        const n = fs.readSync(fd, buf, 0, buf.length, position);
        if (n > 0) {
          position += n;
          pending += buf.toString('utf8', 0, n);
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
