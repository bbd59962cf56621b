import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import http from 'node:http';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { BerthError } from '@berth/oci';
import { findBinary, freePort, killOnExit, makeTempDir, runChecked } from './util.js';

export interface RegistryUser {
  user: string;
  password: string;
}

export type RegistryAuth =
  | { kind: 'htpasswd'; users: RegistryUser[]; realm?: string }
  | { kind: 'token'; realm: string; service: string; issuer: string; rootCertBundle: string };

export interface StartRegistryOptions {
  auth?: RegistryAuth;
  /** Binary to run; default `docker-registry` from PATH (Debian's CNCF distribution build). */
  binary?: string;
  /** How long to wait for `GET /v2/` to answer; default 20 s. */
  readyTimeoutMs?: number;
}

export interface RunningRegistry {
  /** `127.0.0.1:PORT`, the registry part of a reference. */
  readonly host: string;
  /** `http://127.0.0.1:PORT`. */
  readonly url: string;
  readonly port: number;
  /** The filesystem storage root of the registry. */
  readonly dataDir: string;
  /** Where the registry's own log goes (not the test output). */
  readonly logFile: string;
  readonly pid: number;
  /** Stop the process (TERM, then KILL after 5 s) and remove its data. Idempotent. */
  stop(): Promise<void>;
}

const MAX_START_ATTEMPTS = 3;

/**
 * Run a real registry (`docker-registry serve config.yml`) on a free loopback port,
 * with filesystem storage in a temp dir and optional htpasswd or token auth.
 * Resolves once `GET /v2/` answers (200 or 401). The process is killed on stop()
 * and, as a last resort, when the test process exits.
 */
export async function startRegistry(opts: StartRegistryOptions = {}): Promise<RunningRegistry> {
  const binary = findBinary(opts.binary ?? 'docker-registry');
  if (!binary) {
    throw new BerthError('ERUNTIME', `start registry: ${opts.binary ?? 'docker-registry'} not found on PATH (install the Debian package docker-registry)`);
  }
  const tmp = await makeTempDir('berth-registry-');
  try {
    const dataDir = path.join(tmp.path, 'data');
    await mkdir(dataDir, { recursive: true });
    const auth = await authSection(opts.auth, tmp.path);
    let lastError: unknown;
    for (let attempt = 1; attempt <= MAX_START_ATTEMPTS; attempt++) {
      const port = await freePort();
      const logFile = path.join(tmp.path, `registry-${attempt}.log`);
      const configFile = path.join(tmp.path, 'config.yml');
      // JSON is YAML: no YAML writer needed, and no quoting surprises.
      const config = {
        version: 0.1,
        log: { level: 'info', formatter: 'text', accesslog: { disabled: false } },
        storage: {
          filesystem: { rootdirectory: dataDir },
          delete: { enabled: true },
          maintenance: { uploadpurging: { enabled: false } },
        },
        http: { addr: `127.0.0.1:${port}`, secret: 'berth-test-secret' },
        ...(auth ? { auth } : {}),
      };
      await writeFile(configFile, JSON.stringify(config, null, 2));
      const fd = openSync(logFile, 'a');
      let child: ChildProcess;
      try {
        child = spawn(binary, ['serve', configFile], { stdio: ['ignore', fd, fd] });
      } finally {
        closeSync(fd);
      }
      killOnExit(child);
      try {
        await waitReady(child, port, logFile, opts.readyTimeoutMs ?? 20_000);
      } catch (err) {
        lastError = err;
        await killAndWait(child);
        continue;
      }
      const host = `127.0.0.1:${port}`;
      let stopped: Promise<void> | undefined;
      return {
        host,
        url: `http://${host}`,
        port,
        dataDir,
        logFile,
        pid: child.pid ?? -1,
        stop: () => {
          stopped ??= killAndWait(child).then(() => tmp.cleanup());
          return stopped;
        },
      };
    }
    throw BerthError.wrap(`start registry (${MAX_START_ATTEMPTS} attempts)`, lastError);
  } catch (err) {
    await tmp.cleanup();
    throw err;
  }
}

async function authSection(auth: RegistryAuth | undefined, dir: string): Promise<Record<string, unknown> | undefined> {
  if (!auth) return undefined;
  if (auth.kind === 'htpasswd') {
    if (!findBinary('htpasswd')) {
      throw new BerthError('ERUNTIME', 'start registry: htpasswd not found on PATH (install the Debian package apache2-utils)');
    }
    const lines: string[] = [];
    for (const u of auth.users) {
      if (!/^[^:\s]+$/.test(u.user)) throw new BerthError('EINVAL_ARGUMENT', `start registry: invalid htpasswd user name ${JSON.stringify(u.user)}`);
      // -B bcrypt (the only scheme distribution accepts), -b password from argv, -n print.
      lines.push((await runChecked('htpasswd', ['-Bbn', u.user, u.password], { doing: `hash password for ${u.user}` })).trim());
    }
    const file = path.join(dir, 'htpasswd');
    await writeFile(file, lines.join('\n') + '\n', { mode: 0o600 });
    return { htpasswd: { realm: auth.realm ?? 'berth-test-registry', path: file } };
  }
  return {
    token: { realm: auth.realm, service: auth.service, issuer: auth.issuer, rootcertbundle: auth.rootCertBundle },
  };
}

async function waitReady(child: ChildProcess, port: number, logFile: string, timeoutMs: number): Promise<void> {
  let exited: string | undefined;
  const onExit = (code: number | null, signal: string | null) => {
    exited = `exited with ${code ?? signal}`;
  };
  child.once('exit', onExit);
  try {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (exited) throw new BerthError('ERUNTIME', `registry ${exited}: ${logTail(logFile)}`);
      if (await answers(port)) return;
      await sleep(50);
    }
    throw new BerthError('ERUNTIME', `registry on 127.0.0.1:${port} did not answer GET /v2/ within ${timeoutMs} ms: ${logTail(logFile)}`);
  } finally {
    child.off('exit', onExit);
  }
}

/** Any HTTP answer from /v2/ (200, or 401 with auth) means the registry is up. */
function answers(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const req = http.get({ host: '127.0.0.1', port, path: '/v2/', timeout: 1000, agent: false }, (res) => {
      res.resume();
      resolve(typeof res.statusCode === 'number');
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(false));
  });
}

function logTail(logFile: string): string {
  try {
    const lines = readFileSync(logFile, 'utf8').split('\n').filter((l) => l.trim());
    const bad = lines.filter((l) => /level=(fatal|error|panic)|address already in use|configuration error/i.test(l));
    return (bad[bad.length - 1] ?? lines[lines.length - 1] ?? '(empty log)').slice(0, 300);
  } catch {
    return '(no log)';
  }
}

async function killAndWait(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const gone = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
  try {
    await gone;
  } finally {
    clearTimeout(timer);
  }
}
