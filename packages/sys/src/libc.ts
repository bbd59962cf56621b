import { createRequire } from 'node:module';
import type { LibraryHandle } from 'koffi';
import { BerthError } from '@berth/oci';

/**
 * The one koffi handle on the C library, for every berth package. libc is
 * opened on the first call that needs it, and each C function is declared on
 * its first use (a koffi declaration costs time; `berth run`'s start-up is
 * measured in ms), then kept for the life of the process.
 *
 * glibc and musl: the names are tried in order, `libc.so.6` (glibc) first, then
 * musl's `libc.musl-<arch>.so.1` and plain `libc.so` (Alpine's). A process
 * that can load none gets a BerthError 'EUNSUPPORTED' naming what was tried;
 * each caller decides whether that is fatal (locks, the runtime) or means
 * "skip it" (the malloc tuning).
 *
 * This is the one module of berth that loads koffi, and only on the first call that needs it:
 * loading it (its native addon and its JavaScript) costs about 20 ms, which `berth images`,
 * `berth ps` and the like, which import this package but never call C, do not pay. It is
 * required, not imported: a synchronous load on first use, and one copy (koffi's CommonJS
 * build) in every bundle, ESM or CommonJS (the runtime's init).
 */

type Koffi = typeof import('koffi').default;
let koffiModule: Koffi | undefined;

/** koffi, loaded on first use. */
function koffi(): Koffi {
  // A CommonJS bundle (the init) and the CLI's ESM bundle (its banner) have a require; tsc's ESM output does not.
  koffiModule ??= (typeof require === 'function' ? require : createRequire(import.meta.url))('koffi') as Koffi;
  return koffiModule;
}

/**
 * A koffi-declared C function. `any`: koffi maps C types to JS values at run
 * time (its own typings use any); the wrappers of this package give each call
 * a precise signature, so the looseness stays inside @berth/sys.
 */
export type CFunc = (...args: any[]) => any;

/** The names libc is looked up by, in order: glibc, then musl. */
export const LIBC_NAMES: readonly string[] = Object.freeze([
  'libc.so.6',
  `libc.musl-${process.arch === 'x64' ? 'x86_64' : process.arch === 'arm64' ? 'aarch64' : process.arch}.so.1`,
  'libc.so',
]);

let handle: LibraryHandle | undefined;
let loadError: BerthError | undefined;
const declared = new Map<string, CFunc>();

/** Opens the first library of `names` that loads; the error names every one tried. */
export function openFirst(names: readonly string[], what: string): LibraryHandle {
  const failures: string[] = [];
  for (const name of names) {
    try {
      return koffi().load(name);
    } catch (err) {
      failures.push(`${name}: ${err instanceof Error ? err.message.split('\n')[0] : String(err)}`);
    }
  }
  throw new BerthError('EUNSUPPORTED', `load ${what}: none of ${names.join(', ')} could be opened (${failures.join('; ')})`, {
    details: { tried: [...names] },
  });
}

/** The C library, opened on first use (glibc's libc.so.6, else musl's). */
export function libc(): LibraryHandle {
  if (handle) return handle;
  if (loadError) throw loadError;
  try {
    handle = openFirst(LIBC_NAMES, 'libc');
    return handle;
  } catch (err) {
    loadError = err as BerthError;
    throw err;
  }
}

/**
 * A libc function by its C prototype, declared on the first call and cached by
 * the prototype's text (one declaration per process, whichever wrapper asks).
 */
export function cfunc(prototype: string): CFunc {
  let f = declared.get(prototype);
  if (f === undefined) {
    f = libc().func(prototype) as CFunc;
    declared.set(prototype, f);
  }
  return f;
}

/**
 * A getter for one libc function, declared on its first call. Hot wrappers
 * (called once per file of a tree) keep the function in a closure instead of
 * looking it up by prototype on every call.
 */
export function lazyFunc(prototype: string): () => CFunc {
  let f: CFunc | undefined;
  return () => (f ??= cfunc(prototype));
}

/** The errno of the last C call made through koffi on this thread. */
export function lastErrno(): number {
  return koffi().errno();
}

/** Size in bytes of a C type (`long`, `void *`) on this platform. */
export function sizeOf(type: string): number {
  return koffi().sizeof(type);
}

/** The address of a buffer's memory, for structs that carry pointers (bpf attrs). */
export function addressOf(buffer: Uint8Array): bigint {
  return BigInt(koffi().address(buffer) as number | bigint);
}

/**
 * Declares a koffi struct type once per process (koffi type names are global):
 * a second call, or another copy of this module, reuses the first declaration.
 */
export function structType(name: string, fields: Record<string, string>): unknown {
  try {
    return koffi().type(name);
  } catch {
    return koffi().struct(name, fields);
  }
}
