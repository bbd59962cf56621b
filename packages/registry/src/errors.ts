import type { IncomingHttpHeaders } from 'node:http';
import { BerthError, describeError, type ErrorCode } from '@berth/oci';
import { parseRetryAfter } from './retry.js';

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
  const retryAfterMs = parseRetryAfter(opts.headers?.['retry-after']);
  return new BerthError(codeForStatus(opts.status, info.registryCode), `${opts.doing}: ${reason}`, {
    details: {
      status: opts.status,
      url: opts.url,
      reason,
      ...(info.registryCode ? { registryCode: info.registryCode } : {}),
      ...(retryAfterMs !== undefined ? { retryAfterMs } : {}),
    },
  });
}

/** What the body being read is, for "the registry stopped sending the manifest body". */
export type BodyKind = 'manifest' | 'blob' | 'token' | 'response';

const TLS_CODES = /^(ERR_TLS_|ERR_SSL_|CERT_|UNABLE_TO_|DEPTH_ZERO_SELF_SIGNED_CERT$|SELF_SIGNED_CERT_IN_CHAIN$|HOSTNAME_MISMATCH$|ERR_OSSL_)/;
const CANNOT_CONNECT = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EAI_FAIL', 'EAI_NONAME', 'ENETUNREACH', 'ENETDOWN', 'EHOSTUNREACH', 'EHOSTDOWN', 'EADDRNOTAVAIL']);

function seconds(ms: number): string {
  return `${Number((ms / 1000).toFixed(1))} s`;
}

/** The first error in a cause chain that carries a string `code` (undici's and Node's errors; a BerthError's own code is passed over). */
function coded(err: unknown): { code: string; message: string; syscall?: string } | undefined {
  for (let e: unknown = err, depth = 0; e && depth < 6; e = (e as { cause?: unknown }).cause, depth++) {
    const o = e as { code?: unknown; syscall?: unknown };
    if (typeof o.code === 'string' && !(e instanceof BerthError)) {
      return { code: o.code, message: describeError(e), ...(typeof o.syscall === 'string' ? { syscall: o.syscall } : {}) };
    }
  }
  return undefined;
}

/** The failure is that no connection could be made at all (refused, unreachable, no such host, connect timeout). */
export function isConnectFailure(err: unknown): boolean {
  const c = coded(err);
  return c !== undefined && (CANNOT_CONNECT.has(c.code) || c.code === 'UND_ERR_CONNECT_TIMEOUT' || (c.code === 'ETIMEDOUT' && c.syscall === 'connect'));
}

/**
 * A connection-level failure in words, never undici's code:
 * "cannot connect (connect ECONNREFUSED)", "connection reset",
 * "the registry stopped sending the manifest body for 30 s", "TLS handshake failed: …".
 */
export function describeNetworkError(err: unknown, ctx: { timeoutMs: number; body?: BodyKind }): string {
  const c = coded(err);
  const body = ctx.body ?? 'response';
  if (!c) return (err as { name?: unknown }).name === 'SocketError' ? 'the connection closed early' : oneLine(describeError(err));
  switch (c.code) {
    case 'UND_ERR_BODY_TIMEOUT':
      return `the registry stopped sending the ${body} body for ${seconds(ctx.timeoutMs)}`;
    case 'UND_ERR_HEADERS_TIMEOUT':
      return `the registry did not answer within ${seconds(ctx.timeoutMs)}`;
    case 'UND_ERR_CONNECT_TIMEOUT':
      return `cannot connect (no connection within ${seconds(ctx.timeoutMs)})`;
    case 'ETIMEDOUT':
      return c.syscall === 'connect' ? 'cannot connect (connection timed out)' : 'connection timed out';
    case 'ECONNRESET':
    case 'EPIPE':
    case 'ECONNABORTED':
      return 'connection reset';
    case 'UND_ERR_SOCKET':
      return 'connection closed by the registry';
    case 'UND_ERR_CLOSED':
      return 'connection closed';
    case 'UND_ERR_RES_CONTENT_LENGTH_MISMATCH':
      return `the ${body} body did not match its Content-Length`;
    case 'UND_ERR_REQ_CONTENT_LENGTH_MISMATCH':
      return 'the request body did not match its Content-Length';
    case 'ERR_STREAM_PREMATURE_CLOSE':
      return `the connection closed before the end of the ${body} body`;
    default:
      break;
  }
  // "connect ECONNREFUSED 127.0.0.1:5000" → "cannot connect (connect ECONNREFUSED)": the address is said elsewhere.
  if (CANNOT_CONNECT.has(c.code)) return `cannot connect (${c.syscall ? `${c.syscall} ${c.code}` : c.code})`;
  if (TLS_CODES.test(c.code)) return `TLS handshake failed: ${oneLine(c.message)}`;
  // Any other undici error: its message, without its code.
  if (c.code.startsWith('UND_ERR_')) return oneLine(c.message);
  return oneLine(c.message.includes(c.code) ? c.message : `${c.code}: ${c.message}`);
}

/** A connection-level failure, as ENETWORK: its words in the message, the original error as the cause. */
export function networkError(doing: string, err: unknown, opts: { url?: string; timeoutMs: number; body?: BodyKind }): BerthError {
  const why = describeNetworkError(err, opts);
  return new BerthError('ENETWORK', `${doing}: ${why}`, { cause: err, details: { reason: why, ...(opts.url ? { url: opts.url } : {}) } });
}

/** The short reason of a BerthError (the registry's words) when it has one, else its message. */
export function reasonOf(err: unknown): string {
  if (err instanceof BerthError && typeof err.details['reason'] === 'string') return err.details['reason'];
  return describeError(err);
}
