import * as fs from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { BerthError } from '@berth/oci';
import type { RuntimeContext } from './context.js';

/** docker's restart policy names (`--restart`). */
export type RestartPolicyName = 'no' | 'always' | 'on-failure' | 'unless-stopped';

/** docker's `HostConfig.RestartPolicy`: a name and, for on-failure, the most restarts (0: no limit). */
export interface RestartPolicy {
  Name: RestartPolicyName;
  MaximumRetryCount: number;
}

const NAMES: readonly RestartPolicyName[] = ['no', 'always', 'on-failure', 'unless-stopped'];

const invalid = (msg: string): never => {
  throw new BerthError('EINVAL_ARGUMENT', msg, { details: { flag: '--restart' } });
};

/**
 * `--restart no|always|unless-stopped|on-failure[:N]`, with docker's checks and words
 * (opts.ParseRestartPolicy, then the daemon's validation).
 */
export function parseRestartPolicy(text: string): RestartPolicy {
  const colon = text.indexOf(':');
  const name = colon < 0 ? text : text.slice(0, colon);
  const count = colon < 0 ? '' : text.slice(colon + 1);
  if (colon >= 0 && name === '') invalid('invalid restart policy format: no policy provided before colon');
  let max = 0;
  if (count !== '') {
    if (!/^[-+]?\d+$/.test(count)) invalid('invalid restart policy format: maximum retry count must be an integer');
    max = Number(count);
  }
  if (!(NAMES as readonly string[]).includes(name)) {
    invalid(`invalid restart policy: unknown policy '${name}'; use one of 'no', 'always', 'on-failure', or 'unless-stopped'`);
  }
  if (name !== 'on-failure' && max !== 0) invalid(`invalid restart policy: maximum retry count can only be used with 'on-failure'`);
  if (max < 0) invalid('invalid restart policy: maximum retry count cannot be negative');
  return { Name: name as RestartPolicyName, MaximumRetryCount: max };
}

/** A policy as `--restart` spells it (parseRestartPolicy's inverse): `always`, `on-failure:3`. */
export function formatRestartPolicy(p: RestartPolicy): string {
  return p.Name === 'on-failure' && p.MaximumRetryCount > 0 ? `${p.Name}:${p.MaximumRetryCount}` : p.Name;
}

/**
 * `start -a` of a container with a restart policy (`create --restart`) is refused: nothing
 * restarts a container in the caller's process, the policy is its shim's to keep (`start`
 * without -a, then `attach`). Throws the one-line error (exit 125) naming the flag.
 */
export function refuseAttachedStart(name: string, policy: RestartPolicy | undefined): void {
  if (!hasRestartPolicy(policy)) return;
  throw new BerthError('EINVAL_ARGUMENT', `start container ${name}: --restart ${formatRestartPolicy(policy)} is kept only for a container started detached (start without -a, then attach)`, {
    details: { exitCode: 125 },
  });
}

/** The first delay, doubled after each restart, up to MAX_DELAY_MS (docker's restartmanager). */
export const FIRST_DELAY_MS = 100;
export const MAX_DELAY_MS = 60_000;
/** A run at least this long starts the backoff over. */
export const RESET_AFTER_MS = 10_000;

/** What ended one run of the container's process. */
export interface RunEnd {
  exitCode: number;
  /** `stop`/`kill` (or `rm -f`) by the user: never restarted, as docker. */
  manuallyStopped: boolean;
  /** How long the process ran. */
  ranMs: number;
}

/**
 * docker's restart manager for one container: whether to restart after a run, and after
 * how long. The delay starts at 100 ms and doubles with every restart up to a minute; a run
 * of 10 s or more starts it over. `always` and `unless-stopped` restart after any exit,
 * `on-failure` after a non-zero one (at most MaximumRetryCount times, unless 0); a user's stop
 * ends every policy (berth has no daemon restart, where `always` and `unless-stopped` differ).
 */
export class RestartManager {
  private delayMs = 0;
  private count: number;

  constructor(
    readonly policy: RestartPolicy,
    opts: { restartCount?: number } = {},
  ) {
    this.count = opts.restartCount ?? 0;
  }

  /** Restarts so far (docker's `RestartCount`). */
  get restartCount(): number {
    return this.count;
  }

  /** The delay before the next start, or undefined when the container stays stopped. Counts the restart. */
  shouldRestart(end: RunEnd): number | undefined {
    if (this.policy.Name === 'no' || end.manuallyStopped) return undefined;
    if (end.ranMs >= RESET_AFTER_MS) this.delayMs = 0;
    this.delayMs = this.delayMs === 0 ? FIRST_DELAY_MS : Math.min(this.delayMs * 2, MAX_DELAY_MS);
    let restart: boolean;
    if (this.policy.Name === 'on-failure') {
      const max = this.policy.MaximumRetryCount;
      restart = end.exitCode !== 0 && (max === 0 || this.count < max);
    } else {
      restart = true;
    }
    if (!restart) return undefined;
    this.count++;
    return this.delayMs;
  }
}

/** A marker in the container's state directory: the user stopped it (`stop`, `kill`, `rm -f`), so its monitor restarts it no more. */
export const MANUAL_STOP_FILE = 'stopped-by-user';

/** Records a user's stop of a container that has a restart policy, before its process is signalled. */
export function markManualStop(ctx: RuntimeContext, id: string): void {
  try {
    fs.writeFileSync(ctx.store.file(id, MANUAL_STOP_FILE), '', { mode: 0o644 });
  } catch {
    // The container is gone meanwhile: nothing to restart.
  }
}

export function manualStopRequested(ctx: RuntimeContext, id: string): boolean {
  return fs.existsSync(ctx.store.file(id, MANUAL_STOP_FILE));
}

/** A new monitor (a new start) forgets an earlier stop. */
export function clearManualStop(ctx: RuntimeContext, id: string): void {
  fs.rmSync(ctx.store.file(id, MANUAL_STOP_FILE), { force: true });
}

/** Whether `policy` restarts anything at all (undefined and `no` do not). */
export function hasRestartPolicy(policy: RestartPolicy | undefined): policy is RestartPolicy {
  return policy !== undefined && policy.Name !== 'no';
}

/**
 * The wait between two runs: `delayMs`, looking every 100 ms for a user's stop (MANUAL_STOP_FILE,
 * or `stopped()`) and for the container's removal. Resolves true when the container is to start
 * again; false when it is gone or was stopped, which is then recorded (`stopped`, keeping the last
 * exit, as docker's stop of a restarting container).
 */
export async function backoff(ctx: RuntimeContext, id: string, delayMs: number, stopped: () => boolean = () => false): Promise<boolean> {
  const until = Date.now() + delayMs;
  for (;;) {
    if (ctx.store.read(id) === undefined) return false;
    if (stopped() || manualStopRequested(ctx, id)) {
      ctx.store.update(id, (s) => {
        s.status = 'stopped';
        delete s.restarting;
      });
      return false;
    }
    const left = until - Date.now();
    if (left <= 0) return true;
    await sleep(Math.min(left, 100));
  }
}
