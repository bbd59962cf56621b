import type { IncomingHttpHeaders } from 'node:http';
import { BerthError, describeError, type ErrorCode } from '@berth/oci';

/** A registry's error body: `{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"}]}`, or a token server's `{"details":…}`. */
export interface RegistryErrorInfo {
  registryCode?: string;
  message?: string;
}

export function parseRegistryErrorBody(text: string): RegistryErrorInfo {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return {};
  }
  if (!v || typeof v !== 'object') return {};
  const o = v as Record<string, unknown>;
  const errors = o['errors'];
  if (Array.isArray(errors) && errors.length > 0) {
    const e = errors[0] as Record<string, unknown> | null;
    if (e && typeof e === 'object') {
      const out: RegistryErrorInfo = {};
      if (typeof e['code'] === 'string') out.registryCode = e['code'];
      if (typeof e['message'] === 'string') out.message = e['message'];
      return out;
    }
  }
  for (const k of ['details', 'message', 'error_description', 'error']) {
    if (typeof o[k] === 'string' && o[k]) return { message: o[k] };
  }
  return {};
}

/** Squash whitespace and bound the length so a hostile server cannot make a multi-line or huge message. */
export function oneLine(s: string, max = 300): string {
  const t = s.replace(/[\u0000-\u001f\u007f\s]+/g, ' ').trim();
  return t.length > max ? `${t.slice(0, max - 3)}...` : t;
}

const DEFAULT_REASON: Record<number, string> = {
  400: 'bad request',
  401: 'unauthorized: authentication required',
  403: 'denied: requested access to the resource is denied',
  405: 'unsupported: the operation is unsupported',
  408: 'request timeout',
  413: 'request entity too large',
  416: 'range not satisfiable',
  429: 'toomanyrequests: too many requests',
  500: 'internal server error',
  502: 'bad gateway',
  503: 'service unavailable',
  504: 'gateway timeout',
};

/**
 * The short reason docker would show: the registry's `code: message` (code
 * lowercased with spaces, not repeated when the message says the same), or a
 * default for the status (`notFound` names what was missing: "manifest unknown").
 */
export function errorReason(status: number, info: RegistryErrorInfo, notFound = 'not found'): string {
  const code = info.registryCode ? info.registryCode.toLowerCase().replace(/_/g, ' ') : undefined;
  const msg = info.message ? oneLine(info.message) : undefined;
  if (code && msg) return msg.toLowerCase().startsWith(code) ? msg : `${code}: ${msg}`;
  if (msg) {
    if (status === 401 && !/^unauthorized/i.test(msg)) return `unauthorized: ${msg}`;
    if (status === 403 && !/^denied/i.test(msg)) return `denied: ${msg}`;
    return msg;
  }
  if (code) return code;
  if (status === 404) return notFound;
  return DEFAULT_REASON[status] ?? `unexpected HTTP status ${status}`;
}

export function codeForStatus(status: number, registryCode?: string): ErrorCode {
  switch (registryCode) {
    case 'UNAUTHORIZED':
      return 'EUNAUTHORIZED';
    case 'DENIED':
      return 'EDENIED';
    case 'MANIFEST_UNKNOWN':
    case 'BLOB_UNKNOWN':
    case 'NAME_UNKNOWN':
    case 'BLOB_UPLOAD_UNKNOWN':
      return 'ENOT_FOUND';
    default:
      break;
  }
  if (status === 401) return 'EUNAUTHORIZED';
  if (status === 403) return 'EDENIED';
  if (status === 404) return 'ENOT_FOUND';
  return 'EREGISTRY';
}

/** Build the one-line BerthError for an HTTP error response whose body text is known. */
export function httpError(opts: {
  doing: string;
  status: number;
  bodyText: string;
  url: string;
  headers?: IncomingHttpHeaders;
  notFound?: string;
}): BerthError {
  const info = parseRegistryErrorBody(opts.bodyText);
  const reason = errorReason(opts.status, info, opts.notFound);
  return new BerthError(codeForStatus(opts.status, info.registryCode), `${opts.doing}: ${reason}`, {
    details: { status: opts.status, url: opts.url, reason, ...(info.registryCode ? { registryCode: info.registryCode } : {}) },
  });
}

/** A connection-level failure, as ENETWORK. */
export function networkError(doing: string, err: unknown, url?: string): BerthError {
  const code = (err as { code?: unknown }).code;
  let why = describeError(err);
  if (typeof code === 'string' && !why.includes(code)) why = `${code}: ${why}`;
  return new BerthError('ENETWORK', `${doing}: ${oneLine(why)}`, { cause: err, details: { reason: oneLine(why), ...(url ? { url } : {}) } });
}

/** The short reason of a BerthError (the registry's words) when it has one, else its message. */
export function reasonOf(err: unknown): string {
  if (err instanceof BerthError && typeof err.details['reason'] === 'string') return err.details['reason'];
  return describeError(err);
}
