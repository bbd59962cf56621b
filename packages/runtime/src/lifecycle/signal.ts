import { BerthError } from '@berth/oci';
import { SIGNALS } from '@berth/sys';

// On its own (re-exported by kill.ts): berth-runtime's `kill` needs only this of the lifecycle.

/** A signal number from `SIGTERM`, `TERM`, `term` or `15`. */
export function signalNumber(signal: string | number): number {
  if (typeof signal === 'number') {
    if (Number.isInteger(signal) && signal > 0 && signal <= 64) return signal;
  } else {
    const s = signal.trim().toUpperCase();
    if (/^\d+$/.test(s)) return signalNumber(Number(s));
    const n = SIGNALS[s.startsWith('SIG') ? s : `SIG${s}`];
    if (n !== undefined) return n;
    const rt = /^SIGRTMIN(?:\+(\d+))?$/.exec(s.startsWith('SIG') ? s : `SIG${s}`);
    if (rt) return signalNumber(34 + Number(rt[1] ?? 0));
  }
  throw new BerthError('EINVAL_ARGUMENT', `invalid signal "${signal}"`, { details: { signal } });
}

/**
 * The signals berth passes on to a container whose output this process shows without a terminal
 * (`run` in the foreground, `start -a`, `attach` with `--sig-proxy`), as docker's sig-proxy does:
 * a ^C, a `kill` of berth or a terminal's hang-up reach the container's process.
 */
export const FORWARDED_SIGNALS: readonly NodeJS.Signals[] = ['SIGHUP', 'SIGINT', 'SIGQUIT', 'SIGTERM', 'SIGUSR1', 'SIGUSR2', 'SIGALRM', 'SIGWINCH', 'SIGCONT'];
