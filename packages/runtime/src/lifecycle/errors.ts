import { isBerthError } from '@berth/oci';

/**
 * The exit status the CLI should use for an error from Runtime.run/launch/start:
 * 126 (cannot execute) or 127 (not found) when the container's command failed
 * to start, 125 for any other berth failure (docker's convention).
 */
export function startFailureExitCode(err: unknown): number {
  if (isBerthError(err)) {
    const c = err.details['exitCode'];
    if (c === 126 || c === 127) return c;
  }
  return 125;
}
