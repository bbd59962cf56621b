import koffi, { type LibraryHandle } from 'koffi';

/**
 * glibc through koffi, loaded once for the store's few calls (flock and the malloc
 * tuning). Throws the load error where there is no libc.so.6; each caller
 * decides whether that is fatal (locks) or means "skip it" (the malloc tuning).
 */
let lib: LibraryHandle | undefined;
let loadError: unknown;

export function libc(): LibraryHandle {
  if (lib) return lib;
  if (loadError !== undefined) throw loadError;
  try {
    lib = koffi.load('libc.so.6');
    return lib;
  } catch (err) {
    loadError = err;
    throw err;
  }
}
