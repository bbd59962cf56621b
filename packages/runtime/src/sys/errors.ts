import { constants } from 'node:os';
import { BerthError } from '@berth/oci';

const ERRNO_NAMES: Map<number, string> = (() => {
  const m = new Map<number, string>();
  for (const [name, value] of Object.entries(constants.errno)) {
    // Several names share a number (EAGAIN/EWOULDBLOCK, EDEADLK/EDEADLOCK): keep the first, canonical one.
    if (!m.has(value)) m.set(value, name);
  }
  return m;
})();

/** The symbolic name of an errno number (`22` → `EINVAL`); unknown numbers read `errno 200`. */
export function errnoName(errno: number): string {
  return ERRNO_NAMES.get(errno) ?? `errno ${errno}`;
}

/** The errno number of a symbolic name, or undefined. */
export function errnoNumber(name: string): number | undefined {
  return (constants.errno as Record<string, number | undefined>)[name];
}

/** The BerthError every failed syscall throws: `mount /x/proc: EPERM`, details {syscall, errno, path}. */
export function syscallError(syscall: string, errno: string | number, path?: string, cause?: unknown): BerthError {
  const name = typeof errno === 'number' ? errnoName(errno) : errno;
  const label = path === undefined ? syscall : `${syscall} ${path}`;
  const details: Record<string, unknown> = { syscall, errno: name };
  if (path !== undefined) details['path'] = path;
  return new BerthError('ESYSCALL', `${label}: ${name}`, { details, cause });
}

/** The errno name carried by a syscall error (or a Node fs error), if any. */
export function errnoOf(err: unknown): string | undefined {
  if (err instanceof BerthError) {
    const e = err.details['errno'];
    return typeof e === 'string' ? e : undefined;
  }
  if (err !== null && typeof err === 'object' && 'code' in err && typeof err.code === 'string') return err.code;
  return undefined;
}
