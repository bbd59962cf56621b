import { constants } from 'node:os';
import { BerthError, type ErrorCode } from '@berth/oci';

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

/**
 * The error every failed system call throws: a BerthError (code 'ESYSCALL'
 * unless the caller names another stable code) with the call, the errno's
 * symbolic name and the path it was about, as properties and in `details`.
 * Message: `<syscall>[ <path>]: <ERRNO>` (crun style: `pivot_root: EINVAL`,
 * `mount /x/proc: EPERM`).
 */
export class SysError extends BerthError {
  /** The C function or system call (`mount`, `pivot_root`, `flock`). */
  readonly syscall: string;
  /** The errno's symbolic name (`EPERM`). */
  readonly errno: string;
  /** What the call was about (a path, an fs name), if anything. */
  readonly path: string | undefined;

  constructor(syscall: string, errno: string | number, options: { path?: string | undefined; cause?: unknown; code?: ErrorCode } = {}) {
    const name = typeof errno === 'number' ? errnoName(errno) : errno;
    const { path } = options;
    const label = path === undefined ? syscall : `${syscall} ${path}`;
    const details: Record<string, unknown> = { syscall, errno: name };
    if (path !== undefined) details['path'] = path;
    super(options.code ?? 'ESYSCALL', `${label}: ${name}`, { details, cause: options.cause });
    this.syscall = syscall;
    this.errno = name;
    this.path = path;
  }
}

/** A SysError for `syscall` failing with `errno` (a number or a name), about `path`. */
export function syscallError(syscall: string, errno: string | number, path?: string, cause?: unknown): SysError {
  return new SysError(syscall, errno, { path, cause });
}

/**
 * The errno name carried by an error, whichever shape: a SysError (or a
 * BerthError wrapping one keeps its details), a Node fs error, or one of the
 * fs primitives' errno errors (`code`).
 */
export function errnoOf(err: unknown): string | undefined {
  if (err instanceof BerthError) {
    const e = err.details['errno'];
    return typeof e === 'string' ? e : undefined;
  }
  if (err !== null && typeof err === 'object' && 'code' in err && typeof err.code === 'string') return err.code;
  return undefined;
}

/**
 * The error of the file-system primitives (fs.ts), shaped like Node's own fs
 * errors: `code` is the errno name, `errno` the negative number, and the
 * message `ENOENT: lsetxattr user.a '/x'`. Their callers (@berth/layers,
 * @berth/rootfs) mix them with node:fs calls and branch on `code` for both.
 */
export interface ErrnoError extends Error {
  code: string;
  errno: number;
  syscall: string;
  path?: string;
}

/** The fs primitives' names: where two names share a number the later one (EOPNOTSUPP, EWOULDBLOCK), as they always reported. */
let fsErrnoNames: Map<number, string> | undefined;

/** An ErrnoError for `syscall` failing with the errno number `errno`; `about` (an xattr name, an ioctl) and the target are named in the message. */
export function errnoError(syscall: string, errno: number, target: string | Buffer | number, about?: string): ErrnoError {
  fsErrnoNames ??= new Map(Object.entries(constants.errno).map(([name, num]) => [num, name] as [number, string]));
  const code = fsErrnoNames.get(errno) ?? `E${errno}`;
  const where = typeof target === 'number' ? ` fd ${target}` : ` '${target.toString()}'`;
  const err = new Error(`${code}: ${syscall}${about === undefined ? '' : ` ${about}`}${where}`) as ErrnoError;
  err.code = code;
  err.errno = -errno;
  err.syscall = syscall;
  if (typeof target !== 'number') err.path = target.toString();
  return err;
}
