import cliProgress from 'cli-progress';
import { humanSize } from './output.js';

/** One transfer's state, as `docker pull` shows it. */
export interface TransferEvent {
  /** Short digest (12 hex) naming the line. */
  id: string;
  status: 'resolving' | 'waiting' | 'downloading' | 'uploading' | 'retrying' | 'verifying' | 'exists' | 'mounted' | 'done';
  current?: number;
  total?: number;
  message?: string;
}

const LABEL: Record<TransferEvent['status'], string> = {
  resolving: 'Resolving',
  waiting: 'Waiting',
  downloading: 'Downloading',
  uploading: 'Pushing',
  retrying: 'Retrying',
  verifying: 'Verifying Checksum',
  exists: 'Already exists',
  mounted: 'Mounted from another repository',
  done: 'Pull complete',
};

interface Payload {
  id: string;
  status: TransferEvent['status'];
  current: number;
  total: number;
  message: string;
  doneLabel: string;
}

/**
 * Per-layer progress lines on a terminal (one line per layer, redrawn in place),
 * built on cli-progress's MultiBar. Off a terminal it prints nothing: the
 * caller prints only result lines.
 */
export class TransferProgress {
  private readonly multi: cliProgress.MultiBar | undefined;
  private readonly bars = new Map<string, cliProgress.SingleBar>();

  constructor(opts: { stream: NodeJS.WritableStream; enabled: boolean; doneLabel?: string }) {
    const doneLabel = opts.doneLabel ?? LABEL.done;
    this.doneLabel = doneLabel;
    if (!opts.enabled) return;
    this.multi = new cliProgress.MultiBar(
      {
        stream: opts.stream,
        hideCursor: true,
        clearOnComplete: false,
        barsize: 30,
        barCompleteChar: '=',
        barIncompleteChar: ' ',
        fps: 10,
        format: (options, params, payload: Payload) => {
          const label = payload.status === 'done' ? payload.doneLabel : LABEL[payload.status];
          const tail = payload.message ? ` ${payload.message}` : '';
          if ((payload.status === 'downloading' || payload.status === 'uploading') && payload.total > 0) {
            const size = options.barsize ?? 30;
            const filled = Math.min(size, Math.round(params.progress * size));
            const bar = `${'='.repeat(Math.max(0, filled - 1))}${filled > 0 ? '>' : ''}${' '.repeat(size - filled)}`;
            return `${payload.id}: ${label} [${bar}] ${humanSize(payload.current)}/${humanSize(payload.total)}${tail}`;
          }
          return `${payload.id}: ${label}${tail}`;
        },
      },
      cliProgress.Presets.legacy,
    );
  }

  private readonly doneLabel: string;

  update(e: TransferEvent): void {
    if (!this.multi) return;
    const payload: Payload = {
      id: e.id,
      status: e.status,
      current: e.current ?? 0,
      total: e.total ?? 0,
      message: e.message ?? '',
      doneLabel: this.doneLabel,
    };
    let bar = this.bars.get(e.id);
    if (!bar) {
      bar = this.multi.create(Math.max(1, payload.total), payload.current, payload);
      this.bars.set(e.id, bar);
    } else {
      if (payload.total > 0) bar.setTotal(payload.total);
      bar.update(payload.current, payload);
    }
  }

  /** Print a line above the bars (e.g. "latest: Pulling from library/alpine"). */
  log(line: string): void {
    if (this.multi) this.multi.log(`${line}\n`);
  }

  stop(): void {
    this.multi?.stop();
  }
}
