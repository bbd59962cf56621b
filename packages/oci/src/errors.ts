/**
 * One error type for every berth package. `code` is stable and machine-readable;
 * `message` says what was being done and what went wrong, on one line; `cause`
 * keeps the underlying error (an errno, an HTTP status, a parse failure).
 */
export type ErrorCode =
  // input and validation
  | 'EINVAL_REFERENCE'
  | 'EINVAL_DIGEST'
  | 'EINVAL_PLATFORM'
  | 'EINVAL_MANIFEST'
  | 'EINVAL_CONFIG'
  | 'EINVAL_ARGUMENT'
  | 'EUNSUPPORTED'
  | 'ETOO_LARGE'
  // content integrity
  | 'EDIGEST_MISMATCH'
  | 'ESIZE_MISMATCH'
  // registry
  | 'EREGISTRY'
  | 'EUNAUTHORIZED'
  | 'EDENIED'
  | 'ENOT_FOUND'
  | 'ENO_MATCHING_PLATFORM'
  | 'ENETWORK'
  /** An operation stopped by its AbortSignal (e.g. Ctrl-C during a pull). */
  | 'EABORTED'
  // local state
  | 'EIMAGE_COPY'
  | 'ESTORE'
  | 'EIMAGE_UNKNOWN'
  | 'EIN_USE'
  | 'ELOCKED'
  // layers and rootfs
  | 'ELAYER'
  | 'EUNSAFE_PATH'
  | 'EROOTFS'
  // runtime
  | 'ERUNTIME'
  | 'ESYSCALL'
  | 'ECONTAINER_UNKNOWN'
  | 'ECONTAINER_STATE'
  | 'ECGROUP'
  | 'ENOT_ROOT'
  // container networking (@berth/network)
  /** A CNI plugin failed or returned a result that does not validate; the message carries the plugin's own msg/details. */
  | 'ENETWORK_PLUGIN'
  /** A network definition clashes with another one or with the host (overlapping subnet, port already bound). */
  | 'ENETWORK_CONFLICT'
  // build
  | 'ERECIPE'
  | 'EBUILD_STEP'
  | 'EBUILD';

export interface BerthErrorOptions {
  cause?: unknown;
  /** Extra machine-readable facts (status code, errno, path...). */
  details?: Record<string, unknown>;
}

export class BerthError extends Error {
  override readonly name = 'BerthError';
  readonly code: ErrorCode;
  readonly details: Record<string, unknown>;

  constructor(code: ErrorCode, message: string, options: BerthErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.details = options.details ?? {};
  }

  /** Wrap any error with what was being done; BerthErrors keep their code. */
  static wrap(doing: string, err: unknown, fallback: ErrorCode = 'ERUNTIME'): BerthError {
    if (err instanceof BerthError) {
      return new BerthError(err.code, `${doing}: ${err.message}`, { cause: err, details: err.details });
    }
    return new BerthError(fallback, `${doing}: ${describeError(err)}`, { cause: err });
  }
}

export function isBerthError(err: unknown, code?: ErrorCode): err is BerthError {
  return err instanceof BerthError && (code === undefined || err.code === code);
}

/** A one-line description of any thrown value (errno codes kept: "ENOENT: no such file..."). */
export function describeError(err: unknown): string {
  if (err instanceof Error) {
    const first = err.message.split('\n')[0] ?? '';
    return first || err.name;
  }
  return String(err);
}
