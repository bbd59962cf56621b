import { spawnSync } from 'node:child_process';
import { BerthError } from '@berth/oci';

/**
 * runtime-spec hooks (config.json `hooks`): programs the runtime runs at fixed points of a
 * container's lifecycle, each given the container's state JSON on stdin.
 *
 * | hook | who runs it, where | when | a failure |
 * | --- | --- | --- | --- |
 * | `prestart` (deprecated), `createRuntime` | `create`, in the runtime's namespaces | the container's namespaces and mounts exist, before `pivot_root` | fails `create` |
 * | `createContainer` | the init, in the container's namespaces (the host's root still visible) | right after those, before `pivot_root` | fails `create` |
 * | `startContainer` | the init, in the container (after `pivot_root`: its root) | at `start`, before the user's process is exec'd | the container's process never runs (the error goes to its stderr) |
 * | `poststart` | `start`, in the runtime's namespaces | once the process was released | a warning |
 * | `poststop` | `delete`, in the runtime's namespaces | once the container is removed | a warning |
 *
 * Hooks run one after the other, synchronously (this module is also bundled into the init).
 * `path` is absolute; `args` is the whole argv (argv[0] included); `env` the whole environment;
 * `timeout` in seconds, after which the hook is killed (SIGKILL) and fails.
 */

export const HOOK_NAMES = ['prestart', 'createRuntime', 'createContainer', 'startContainer', 'poststart', 'poststop'] as const;
export type HookName = (typeof HOOK_NAMES)[number];

export interface OciHook {
  path: string;
  args?: string[];
  env?: string[];
  timeout?: number;
}

export type OciHooks = Partial<Record<HookName, OciHook[]>>;

/** runtime-spec's state, as hooks read it on stdin. */
export interface HookState {
  ociVersion: string;
  id: string;
  status: 'creating' | 'created' | 'running' | 'stopped';
  pid?: number;
  bundle: string;
  annotations?: Record<string, string>;
}

const invalid = (what: string): BerthError => new BerthError('EINVAL_ARGUMENT', `config.json: ${what}`);

/** Validates config.json's `hooks`, refusing what runtime-spec does not allow; returns the non-empty lists. */
export function checkHooks(value: unknown): OciHooks {
  if (value === undefined || value === null) return {};
  if (typeof value !== 'object' || Array.isArray(value)) throw invalid('hooks must be an object');
  const out: OciHooks = {};
  for (const [name, list] of Object.entries(value as Record<string, unknown>)) {
    if (!(HOOK_NAMES as readonly string[]).includes(name)) throw new BerthError('EUNSUPPORTED', `config.json: hooks.${name} is not supported by berth-runtime`);
    if (list === undefined || list === null) continue;
    if (!Array.isArray(list)) throw invalid(`hooks.${name} must be an array`);
    const hooks = list.map((h: unknown, i): OciHook => {
      const where = `hooks.${name}[${i}]`;
      if (typeof h !== 'object' || h === null) throw invalid(`${where} must be an object`);
      const { path, args, env, timeout } = h as Record<string, unknown>;
      if (typeof path !== 'string' || !path.startsWith('/')) throw invalid(`${where}.path must be an absolute path`);
      const strings = (v: unknown, field: string): string[] | undefined => {
        if (v === undefined || v === null) return undefined;
        if (!Array.isArray(v) || v.some((s) => typeof s !== 'string')) throw invalid(`${where}.${field} must be an array of strings`);
        return v as string[];
      };
      const hook: OciHook = { path };
      const a = strings(args, 'args');
      if (a !== undefined) hook.args = a;
      const e = strings(env, 'env');
      if (e !== undefined) hook.env = e;
      if (timeout !== undefined && timeout !== null) {
        if (typeof timeout !== 'number' || !Number.isInteger(timeout) || timeout <= 0) throw invalid(`${where}.timeout must be a positive number of seconds`);
        hook.timeout = timeout;
      }
      return hook;
    });
    if (hooks.length > 0) out[name as HookName] = hooks;
  }
  return out;
}

/** The last non-empty line of a hook's output, for the one-line error. */
function lastLine(text: string): string {
  const lines = text.split('\n').map((l) => l.trim()).filter((l) => l !== '');
  return lines[lines.length - 1] ?? '';
}

/**
 * Runs the hooks of one kind in order, each with `state` on stdin, and throws (ERUNTIME) at the
 * first that cannot be run, exits non-zero, is killed or times out. Its stdout and stderr are
 * collected; the last line of either is in the message.
 */
export function runHooks(name: HookName, hooks: readonly OciHook[] | undefined, state: HookState): void {
  const input = JSON.stringify(state);
  (hooks ?? []).forEach((h, i) => {
    const env: Record<string, string> = {};
    for (const kv of h.env ?? []) {
      const eq = kv.indexOf('=');
      if (eq > 0) env[kv.slice(0, eq)] = kv.slice(eq + 1);
    }
    const argv = h.args ?? [h.path];
    const r = spawnSync(h.path, argv.slice(1), {
      argv0: argv[0] ?? h.path,
      env,
      input,
      encoding: 'utf8',
      stdio: ['pipe', 'pipe', 'pipe'],
      maxBuffer: 1024 * 1024,
      killSignal: 'SIGKILL',
      cwd: '/',
      ...(h.timeout === undefined ? {} : { timeout: h.timeout * 1000 }),
    });
    const what = `${name} hook #${i} (${h.path})`;
    const out = lastLine(r.stderr ?? '') || lastLine(r.stdout ?? '');
    const suffix = out === '' ? '' : `: ${out}`;
    // A hook that does not read the state exits before it is all written: not an error of its own.
    const epipe = r.error !== undefined && (r.error as NodeJS.ErrnoException).code === 'EPIPE';
    if (r.error !== undefined && !epipe) {
      const code = (r.error as NodeJS.ErrnoException).code;
      if (code === 'ETIMEDOUT') throw new BerthError('ERUNTIME', `${what}: timed out after ${h.timeout ?? 0}s${suffix}`);
      throw new BerthError('ERUNTIME', `${what}: ${code ?? r.error.message}`, { cause: r.error });
    }
    if (r.signal !== null) throw new BerthError('ERUNTIME', `${what}: killed by ${r.signal}${suffix}`);
    if (r.status !== 0) throw new BerthError('ERUNTIME', `${what}: exit status ${r.status ?? 'unknown'}${suffix}`);
  });
}
