/**
 * `berth-runtime`: runc's command line over berth's runtime, for engines (podman's conmon,
 * containerd's shim) and people. Bundled by build-entrypoints.mjs into dist/oci/main.cjs;
 * bin/berth-runtime.js runs it. See packages/runtime/RUNTIME-CLI.md.
 *
 *   berth-runtime [--root DIR] [--log FILE] [--log-format text|json] [--debug] COMMAND ...
 *
 * Errors: one line on stderr and, with --log, a line in the log file in runc's format
 * (`{"level":"error","msg":"...","time":"..."}` with --log-format json), exit status 1.
 */
import * as fs from 'node:fs';
import { describeError } from '@berth/oci';
import { BerthError } from '@berth/oci';
import { OCI_VERSION, DEFAULT_ROOT, OciRuntime, exitStatus } from './container.js';
import type { relayTerminal } from './console.js';
// console.js (node:net, node:tty) and features.js (the capability and path tables) are loaded
// by the commands that use them: `state`, `start`, `kill` and `delete` load neither.

const VERSION = '0.1.0';

interface Parsed {
  flags: Map<string, string | true>;
  /** Every value of the repeatable flags (MULTI). */
  multi: Map<string, string[]>;
  args: string[];
}

/** Flags taking a value, per command ('' = global). Go's flag syntax: -x or --x, `--x v` or `--x=v`. */
const VALUED: Record<string, readonly string[]> = {
  '': ['root', 'log', 'log-format', 'criu', 'rootless'],
  create: ['bundle', 'b', 'pid-file', 'console-socket', 'preserve-fds', 'pidfd-socket'],
  run: ['bundle', 'b', 'pid-file', 'console-socket', 'preserve-fds', 'pidfd-socket'],
  list: ['format', 'f'],
  ps: ['format', 'f'],
  update: ['resources', 'r', 'memory', 'memory-swap', 'cpu-quota', 'cpu-period', 'pids-limit', 'cpu-share', 'cpuset-cpus', 'cpuset-mems', 'kernel-memory', 'kernel-memory-tcp', 'memory-reservation', 'blkio-weight', 'l3-cache-schema', 'mem-bw-schema'],
  exec: ['process', 'p', 'console-socket', 'pid-file', 'cwd', 'env', 'e', 'user', 'u', 'cap', 'c', 'process-label', 'apparmor', 'preserve-fds', 'cgroup', 'pidfd-socket'],
  spec: ['bundle', 'b', 'rootless'],
};
const BOOLEAN: Record<string, readonly string[]> = {
  '': ['debug', 'systemd-cgroup', 'version', 'v', 'help', 'h'],
  create: ['no-pivot', 'no-new-keyring'],
  run: ['no-pivot', 'no-new-keyring', 'detach', 'd', 'keep', 'no-subreaper'],
  kill: ['all', 'a'],
  delete: ['force', 'f'],
  list: ['quiet', 'q'],
  spec: [],
  state: [],
  start: [],
  features: [],
  pause: [],
  resume: [],
  exec: ['tty', 't', 'detach', 'd', 'no-new-privs', 'ignore-paused'],
};
/** Flags that may be repeated (each value kept). */
const MULTI = new Set(['env', 'e', 'cap', 'c']);

class UsageError extends BerthError {
  constructor(message: string) {
    super('EINVAL_ARGUMENT', message);
  }
}

/** `CMD --help`: main() prints the usage and exits 0. */
class HelpRequested extends Error {}

/** Parses flags until the first non-flag (global: the command) or to the end (a command's flags may follow its id too, as urfave/cli allows before the id only). */
function parseFlags(argv: string[], cmd: string, stopAtPositional: boolean): Parsed {
  const flags = new Map<string, string | true>();
  const multi = new Map<string, string[]>();
  const args: string[] = [];
  const valued = VALUED[cmd] ?? [];
  const boolean = BOOLEAN[cmd] ?? [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] as string;
    if (a === '--') {
      args.push(...argv.slice(i + 1));
      break;
    }
    if (!a.startsWith('-') || a === '-') {
      if (stopAtPositional) {
        args.push(...argv.slice(i));
        break;
      }
      args.push(a);
      continue;
    }
    const body = a.replace(/^--?/, '');
    const eq = body.indexOf('=');
    const name = eq < 0 ? body : body.slice(0, eq);
    // `berth-runtime CMD --help`, as runc's commands take it (the usage lists every command's flags).
    if (cmd !== '' && (name === 'help' || name === 'h')) throw new HelpRequested();
    if (valued.includes(name)) {
      let v: string | undefined;
      if (eq >= 0) v = body.slice(eq + 1);
      else v = argv[++i];
      if (v === undefined) throw new UsageError(`flag --${name} needs a value`);
      flags.set(name, v);
      if (MULTI.has(name)) multi.set(name, [...(multi.get(name) ?? []), v]);
    } else if (boolean.includes(name)) {
      const v = eq < 0 ? 'true' : body.slice(eq + 1);
      if (v !== 'false') flags.set(name, true);
    } else {
      throw new UsageError(`${cmd === '' ? '' : `${cmd}: `}unknown flag ${a}`);
    }
  }
  return { flags, multi, args };
}

function str(p: Parsed, ...names: string[]): string | undefined {
  for (const n of names) {
    const v = p.flags.get(n);
    if (typeof v === 'string') return v;
  }
  return undefined;
}

function one(p: Parsed, cmd: string, what = 'container id'): string {
  if (p.args.length !== 1) throw new UsageError(`${cmd}: expected exactly one argument (${what}), got ${p.args.length}`);
  return p.args[0] as string;
}

let logFile: string | undefined;
let logJson = false;
let debug = false;

function log(level: 'error' | 'debug' | 'warning', msg: string): void {
  if (logFile === undefined) return;
  const time = new Date().toISOString();
  const line = logJson ? `${JSON.stringify({ level, msg, time })}\n` : `time="${time}" level=${level} msg=${JSON.stringify(msg)}\n`;
  try {
    fs.appendFileSync(logFile, line);
  } catch {
    // Nowhere else to say it: stderr has it too.
  }
}

async function main(argv: string[]): Promise<number> {
  const g = parseFlags(argv, '', true);
  if (g.flags.has('version') || g.flags.has('v')) {
    process.stdout.write(`berth-runtime version ${VERSION}\nspec: ${OCI_VERSION}\n`);
    return 0;
  }
  const log0 = str(g, 'log');
  if (log0 !== undefined) logFile = log0;
  const format = str(g, 'log-format') ?? 'text';
  if (format !== 'text' && format !== 'json') throw new UsageError(`--log-format ${format}: expected text or json`);
  logJson = format === 'json';
  debug = g.flags.has('debug');
  if (g.flags.has('systemd-cgroup')) throw new BerthError('EUNSUPPORTED', '--systemd-cgroup is not supported by berth-runtime (use the cgroupfs cgroup manager)');
  if (str(g, 'rootless') !== undefined && str(g, 'rootless') !== 'false' && str(g, 'rootless') !== 'auto') throw new BerthError('EUNSUPPORTED', '--rootless is not supported by berth-runtime');
  const [cmd, ...rest] = g.args;
  if (cmd === undefined || g.flags.has('help') || g.flags.has('h')) {
    process.stdout.write(USAGE);
    return cmd === undefined && !g.flags.has('help') && !g.flags.has('h') ? 1 : 0;
  }
  if (debug) log('debug', `berth-runtime ${argv.join(' ')}`);
  const rt = new OciRuntime(str(g, 'root') ?? DEFAULT_ROOT);
  rt.warn = (m) => {
    log('warning', m);
    process.stderr.write(`berth-runtime: warning: ${m}\n`);
  };
  // A foreground run/exec with a terminal and no console socket relays the pty here (as runc).
  let relay: ReturnType<typeof relayTerminal> | undefined;
  let relayTo: typeof relayTerminal | undefined;
  const onPty = (master: number): void => {
    if (relayTo === undefined) throw new BerthError('ERUNTIME', 'a terminal without its relay');
    relay = relayTo(rt.sys, master);
  };
  if (cmd === 'run' || cmd === 'exec') relayTo = (await import('./console.js')).relayTerminal;
  let p: Parsed;
  try {
    p = parseFlags(rest, cmd, cmd === 'ps' || cmd === 'exec');
  } catch (err) {
    if (!(err instanceof HelpRequested)) throw err;
    process.stdout.write(USAGE);
    return 0;
  }
  switch (cmd) {
    case 'create': {
      const id = one(p, cmd);
      await rt.create(createOptions(id, p));
      return 0;
    }
    case 'run': {
      const id = one(p, cmd);
      if (p.flags.has('detach') || p.flags.has('d')) throw new BerthError('EUNSUPPORTED', 'run --detach is not supported by berth-runtime (use create and start)');
      const c = await rt.create({ ...createOptions(id, p), foreground: true, onPty });
      const forward = (sig: NodeJS.Signals): void => {
        try {
          process.kill(c.pid, sig);
        } catch {
          // Exited meanwhile.
        }
      };
      const signals: NodeJS.Signals[] = ['SIGTERM', 'SIGINT', 'SIGHUP', 'SIGQUIT', 'SIGUSR1', 'SIGUSR2'];
      for (const s of signals) process.on(s, forward);
      try {
        await rt.start(id);
      } catch (err) {
        await rt.delete(id, true).catch(() => undefined);
        throw err;
      }
      const e = await c.exited;
      await relay?.finish();
      for (const s of signals) process.off(s, forward);
      if (!p.flags.has('keep')) await rt.delete(id, true);
      return await exitStatus(e);
    }
    case 'start':
      await rt.start(one(p, cmd));
      return 0;
    case 'state':
      process.stdout.write(`${JSON.stringify(await rt.state(one(p, cmd)), null, 2)}\n`);
      return 0;
    case 'kill': {
      if (p.args.length < 1 || p.args.length > 2) throw new UsageError('kill: expected a container id and an optional signal');
      await rt.kill(p.args[0] as string, p.args[1] ?? 'SIGTERM', p.flags.has('all') || p.flags.has('a'));
      return 0;
    }
    case 'delete':
      await rt.delete(one(p, cmd), p.flags.has('force') || p.flags.has('f'));
      return 0;
    case 'list': {
      if (p.args.length !== 0) throw new UsageError('list: takes no arguments');
      const all = await rt.list();
      const fmt = str(p, 'format', 'f') ?? 'table';
      if (p.flags.has('quiet') || p.flags.has('q')) process.stdout.write(all.map((c) => `${c.id}\n`).join(''));
      else if (fmt === 'json') process.stdout.write(`${JSON.stringify(all)}\n`);
      else if (fmt === 'table') {
        const rows = [['ID', 'PID', 'STATUS', 'BUNDLE', 'CREATED', 'OWNER'], ...all.map((c) => [c.id, String(c.pid), c.status, c.bundle, c.created, c.owner])];
        const w = rows[0]?.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length))) ?? [];
        process.stdout.write(rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd((w[i] ?? 0) + 2))).join('')).join('\n') + '\n');
      } else throw new UsageError(`list: --format ${fmt}: expected table or json`);
      return 0;
    }
    case 'exec': {
      const [id, ...cmdArgs] = p.args;
      if (id === undefined) throw new UsageError('exec: expected a container id');
      for (const f of ['process-label', 'apparmor', 'cgroup', 'pidfd-socket']) if (p.flags.has(f)) throw new BerthError('EUNSUPPORTED', `exec --${f} is not supported by berth-runtime`);
      const detach = p.flags.has('detach') || p.flags.has('d');
      const o: Parameters<OciRuntime['exec']>[0] = { id, detach, onPty };
      if (p.flags.has('tty') || p.flags.has('t')) o.tty = true;
      const pf = preserveFds(p);
      if (pf !== undefined) o.preserveFds = pf;
      const procFile = str(p, 'process', 'p');
      if (procFile !== undefined) {
        if (cmdArgs.length > 0) throw new UsageError('exec: give either --process or a command, not both');
        try {
          o.process = JSON.parse(fs.readFileSync(procFile, 'utf8')) as NonNullable<typeof o.process>;
        } catch (err) {
          throw BerthError.wrap(`exec: read --process ${procFile}`, err, 'EINVAL_ARGUMENT');
        }
      } else {
        o.args = cmdArgs;
      }
      const cwd = str(p, 'cwd');
      if (cwd !== undefined) o.cwd = cwd;
      const env = [...(p.multi.get('env') ?? []), ...(p.multi.get('e') ?? [])];
      if (env.length > 0) o.env = env;
      const user = str(p, 'user', 'u');
      if (user !== undefined) o.user = user;
      const caps = [...(p.multi.get('cap') ?? []), ...(p.multi.get('c') ?? [])];
      if (caps.length > 0) o.caps = caps;
      if (p.flags.has('no-new-privs')) o.noNewPrivileges = true;
      if (p.flags.has('detach') || p.flags.has('d')) o.detach = true;
      const pidFile = str(p, 'pid-file');
      if (pidFile !== undefined) o.pidFile = pidFile;
      const cs = str(p, 'console-socket');
      if (cs !== undefined) o.consoleSocket = cs;
      const x = await rt.exec(o);
      if (detach) process.exit(0);
      const e = await x.exited;
      await relay?.finish();
      return await exitStatus(e);
    }
    case 'update': {
      const id = one(p, cmd);
      const file = str(p, 'resources', 'r');
      if (file === undefined) throw new UsageError('update: --resources FILE (runtime-spec linux.resources JSON; - for stdin) is required');
      for (const f of p.flags.keys()) if (f !== 'resources' && f !== 'r') throw new BerthError('EUNSUPPORTED', `update --${f} is not supported by berth-runtime (give --resources FILE)`);
      let resources: Parameters<OciRuntime['update']>[1];
      try {
        resources = JSON.parse(fs.readFileSync(file === '-' ? 0 : file, 'utf8')) as typeof resources;
      } catch (err) {
        throw BerthError.wrap(`update: read --resources ${file}`, err, 'EINVAL_ARGUMENT');
      }
      await rt.update(id, resources);
      return 0;
    }
    case 'pause':
    case 'resume':
      await rt.setPaused(one(p, cmd), cmd === 'pause');
      return 0;
    case 'ps': {
      // runc: `ps [--format table|json] ID [ps options]`; options after the id go to ps(1) (default -ef).
      const [id, ...psArgs] = p.args;
      if (id === undefined) throw new UsageError('ps: expected a container id');
      const pids = await rt.pids(id);
      const fmt = str(p, 'format', 'f') ?? 'table';
      if (fmt === 'json') {
        process.stdout.write(`${JSON.stringify(pids)}\n`);
        return 0;
      }
      if (fmt !== 'table') throw new UsageError(`ps: --format ${fmt}: expected table or json`);
      const { spawnSync } = await import('node:child_process');
      const r = spawnSync('ps', psArgs.length > 0 ? psArgs : ['-ef'], { encoding: 'utf8' });
      if (r.status !== 0) throw new BerthError('ERUNTIME', `ps: ps(1) failed: ${r.stderr.trim() || r.error?.message || `exit ${r.status}`}`);
      const [header = '', ...lines] = r.stdout.split('\n');
      const col = header.trim().split(/\s+/).indexOf('PID');
      if (col < 0) throw new BerthError('EINVAL_ARGUMENT', 'ps: the ps options give no PID column');
      const want = new Set(pids);
      process.stdout.write([header, ...lines.filter((l) => want.has(Number(l.trim().split(/\s+/)[col])))].join('\n') + '\n');
      return 0;
    }
    case 'features':
      process.stdout.write(`${JSON.stringify((await import('./features.js')).features(), null, 2)}\n`);
      return 0;
    case 'spec': {
      const dir = str(p, 'bundle', 'b') ?? '.';
      const file = `${dir}/config.json`;
      try {
        fs.writeFileSync(file, `${JSON.stringify((await import('./features.js')).defaultConfig(), null, 2)}\n`, { flag: 'wx', mode: 0o644 });
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'EEXIST') throw new BerthError('EIN_USE', `spec: ${file} exists; remove it first`);
        throw BerthError.wrap(`spec: write ${file}`, err);
      }
      return 0;
    }
    default:
      throw new UsageError(`unknown command ${JSON.stringify(cmd)} (berth-runtime --help lists them)`);
  }
}

function preserveFds(p: Parsed): number | undefined {
  const pf = str(p, 'preserve-fds');
  if (pf === undefined) return undefined;
  if (!/^\d+$/.test(pf)) throw new UsageError(`--preserve-fds ${pf}: expected a number`);
  return Number(pf);
}

function createOptions(id: string, p: Parsed): Parameters<OciRuntime['create']>[0] {
  const o: Parameters<OciRuntime['create']>[0] = { id, bundle: str(p, 'bundle', 'b') ?? '.' };
  const pidFile = str(p, 'pid-file');
  if (pidFile !== undefined) o.pidFile = pidFile;
  const cs = str(p, 'console-socket');
  if (cs !== undefined) o.consoleSocket = cs;
  const pf = preserveFds(p);
  if (pf !== undefined) o.preserveFds = pf;
  if (str(p, 'pidfd-socket') !== undefined) throw new BerthError('EUNSUPPORTED', '--pidfd-socket is not supported by berth-runtime');
  // --no-pivot and --no-new-keyring are accepted: berth always pivots (safe on any root
  // except an initramfs, which berth refuses anyway) and never makes a session keyring.
  return o;
}

const USAGE = `Usage: berth-runtime [--root DIR] [--log FILE] [--log-format text|json] [--debug] COMMAND [ARGS]

runc's command line over berth's runtime (OCI runtime-spec ${OCI_VERSION}).

Commands:
  create [--bundle DIR] [--pid-file FILE] [--console-socket PATH] [--preserve-fds N] ID
  start ID          run the user process of a created container
  run [--bundle DIR] [--pid-file FILE] ID   create + start, in the foreground; exits with its status
  state ID          runtime-spec state JSON
  kill [--all] ID [SIGNAL]
  delete [--force] ID
  list [--format table|json] [--quiet]
  exec [--process FILE] [--tty] [--console-socket PATH] [--preserve-fds N] [--detach] [--pid-file FILE] [--cwd DIR] [--env K=V]... [--user UID[:GID]] [--cap CAP]... ID [CMD...]
  ps [--format table|json] ID [PS OPTIONS]
  update --resources FILE ID   new memory/swap/cpu/pids limits (linux.resources JSON)
  pause ID / resume ID   freeze / thaw the container's cgroup
  features          runtime-spec features JSON
  spec [--bundle DIR]   write a default config.json
`;

// No top-level await: the bundle is CommonJS (dist/oci/main.cjs).
main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    const msg = describeError(err);
    log('error', msg);
    process.stderr.write(`berth-runtime: ${msg}\n`);
    if (debug && err instanceof Error && err.stack !== undefined) log('debug', err.stack);
    process.exitCode = 1;
  },
);
