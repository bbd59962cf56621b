import { BerthError } from '@berth/oci';
import type { ImageConfig } from '@berth/oci';
import { Runtime } from './runtime.js';
import { buildSpec } from './spec/build.js';
import type { MountSpec, NetworkMode, RunOverrides } from './spec/types.js';
import { newContainerId } from './lifecycle/state.js';

export interface RunCommandOptions {
  /** The root filesystem to run in (it is used in place: writes land in it). */
  rootfs: string;
  /** argv; argv[0] is looked up in PATH inside the rootfs. */
  args: string[];
  /** `KEY=value` entries (PATH defaults to docker's when absent). */
  env?: string[];
  /** Working directory inside the rootfs (created when missing; default /). */
  cwd?: string;
  /** `name`, `uid`, `uid:gid`, `name:group`, resolved in the rootfs's passwd/group (default root). */
  user?: string;
  /** Default 'none' (loopback only). */
  network?: NetworkMode;
  hostname?: string;
  /** Extra mounts (`{destination, type: 'bind', source, options: ['rbind','ro']}`). */
  mounts?: MountSpec[];
  /** Any other docker-run overrides (capAdd, memory, tmpfs, ...). */
  overrides?: Omit<RunOverrides, 'cmd' | 'entrypoint' | 'env' | 'workdir' | 'user' | 'network' | 'hostname'>;
  /** Data for the command's stdin (otherwise /dev/null). */
  input?: string | Uint8Array;
  /** Streams output as it comes (build logs). */
  onOutput?: (stream: 'stdout' | 'stderr', chunk: Buffer) => void;
  /** Output kept in the result per stream; older output is dropped first (default 16 MiB). */
  maxOutputBytes?: number;
  /** State root (default: BERTH_STATE or /run/berth). */
  stateDir?: string;
  runtime?: Runtime;
}

export interface RunCommandResult {
  /** Exit code; 128+N when killed by signal N; 126/127 when the command could not be executed/found. */
  exitCode: number;
  signal?: string;
  oomKilled: boolean;
  stdout: Buffer;
  stderr: Buffer;
}

class Tail {
  private chunks: Buffer[] = [];
  private size = 0;
  constructor(private readonly max: number) {}
  push(c: Buffer): void {
    this.chunks.push(c);
    this.size += c.length;
    while (this.size > this.max && this.chunks.length > 1) this.size -= (this.chunks.shift() as Buffer).length;
  }
  buffer(): Buffer {
    const b = Buffer.concat(this.chunks);
    return b.length > this.max ? b.subarray(b.length - this.max) : b;
  }
}

/**
 * Runs one command in a root filesystem, as a build step does: a throwaway
 * container (removed afterwards; the rootfs itself is kept, with the
 * command's changes), docker's default isolation and security, output
 * captured. A command that cannot be found or executed resolves with exit code
 * 127/126 and the reason on stderr (as a shell would); other start failures reject.
 */
export async function runCommand(opts: RunCommandOptions): Promise<RunCommandResult> {
  const id = newContainerId();
  const imageConfig = { architecture: process.arch, os: 'linux', rootfs: { type: 'layers', diff_ids: [] }, config: {} } as unknown as ImageConfig;
  const overrides: RunOverrides = {
    ...(opts.overrides ?? {}),
    cmd: opts.args,
    entrypoint: '',
    env: opts.env ?? [],
    workdir: opts.cwd ?? '/',
    network: opts.network ?? 'none',
  };
  if (opts.user !== undefined) overrides.user = opts.user;
  if (opts.hostname !== undefined) overrides.hostname = opts.hostname;
  const spec = buildSpec({ imageConfig, rootfs: opts.rootfs, overrides, containerId: id, hostEnv: {} });
  if (opts.mounts) spec.mounts = [...spec.mounts, ...opts.mounts];

  const runtime = opts.runtime ?? new Runtime(opts.stateDir === undefined ? {} : { stateDir: opts.stateDir });
  const max = opts.maxOutputBytes ?? 16 * 1024 * 1024;
  const out = { stdout: new Tail(max), stderr: new Tail(max) };
  let proc;
  try {
    proc = await runtime.launch({
      id,
      rootfs: opts.rootfs,
      spec,
      stdio: 'pipe',
      interactive: opts.input !== undefined,
      remove: true,
      forwardSignals: false,
    });
  } catch (err) {
    const code = err instanceof BerthError ? err.details['exitCode'] : undefined;
    if (code === 126 || code === 127) {
      const msg = Buffer.from(`berth: ${(err as Error).message}\n`);
      opts.onOutput?.('stderr', msg);
      return { exitCode: code, oomKilled: false, stdout: Buffer.alloc(0), stderr: msg };
    }
    throw err;
  }
  for (const stream of ['stdout', 'stderr'] as const) {
    proc[stream]?.on('data', (c: Buffer) => {
      out[stream].push(c);
      opts.onOutput?.(stream, c);
    });
  }
  if (proc.stdin) {
    proc.stdin.on('error', () => {});
    proc.stdin.end(opts.input === undefined ? undefined : Buffer.from(opts.input));
  }
  const r = await proc.wait();
  const result: RunCommandResult = { exitCode: r.exitCode, oomKilled: r.oomKilled, stdout: out.stdout.buffer(), stderr: out.stderr.buffer() };
  if (r.signal !== undefined) result.signal = r.signal;
  return result;
}
