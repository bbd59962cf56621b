import { randomBytes } from 'node:crypto';
import { mkdir, open, readFile, rename, rm } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { debuglog } from 'node:util';
import { BerthError, describeError } from '@berth/oci';
import { normaliseRegistryHost } from './config.js';

const debug = debuglog('berth');

export interface AuthCredentials {
  username?: string;
  password?: string;
  /** A refresh token (docker's `identitytoken`), exchanged at the token endpoint with `grant_type=refresh_token`. */
  identityToken?: string;
}

/** Where credentials for a registry host come from. Must not throw for "none": return undefined. */
export interface CredentialProvider {
  get(registry: string): Promise<AuthCredentials | undefined>;
}

/** Credentials from a fixed table (tests, CI, programmatic use). */
export class StaticCredentials implements CredentialProvider {
  private readonly table: Map<string, AuthCredentials>;
  constructor(table: Record<string, AuthCredentials>) {
    this.table = new Map(Object.entries(table).map(([k, v]) => [normaliseRegistryHost(k), v]));
  }
  async get(registry: string): Promise<AuthCredentials | undefined> {
    return this.table.get(normaliseRegistryHost(registry));
  }
}

/**
 * Bumped by every login and logout in this process (`updateDockerAuth`): a
 * client that looked credentials up before asks again afterwards, so it never
 * keeps sending credentials that were just logged out. A login or logout by
 * another process is seen by clients created after it (the CLI makes one per command).
 */
let credentialsChanges = 0;

/** @internal How many logins and logouts this process has made (see credentialsChanges). */
export function credentialsGeneration(): number {
  return credentialsChanges;
}

/** The key docker uses for Docker Hub in config.json and credential helpers. */
export const DOCKER_HUB_AUTH_KEY = 'https://index.docker.io/v1/';
const DOCKER_HUB_KEYS = [DOCKER_HUB_AUTH_KEY, 'docker.io', 'index.docker.io', 'registry-1.docker.io'];

/** `$DOCKER_CONFIG`, else `~/.docker`. */
export function dockerConfigDir(env: NodeJS.ProcessEnv = process.env): string {
  return env['DOCKER_CONFIG'] || join(env['HOME'] || homedir(), '.docker');
}

interface DockerConfigFile {
  auths?: Record<string, { auth?: string; username?: string; password?: string; identitytoken?: string } | null>;
  credsStore?: string;
  credHelpers?: Record<string, string>;
  [key: string]: unknown;
}

/** The host part of a config.json key: `https://myreg:5000/v1/` → `myreg:5000`, Docker Hub keys → `docker.io`. */
export function authKeyHost(key: string): string {
  let k = key.trim();
  k = k.replace(/^[a-z][a-z0-9+.-]*:\/\//i, '');
  const slash = k.indexOf('/');
  if (slash >= 0) k = k.slice(0, slash);
  return normaliseRegistryHost(k);
}

/** The server URL docker passes to credential helpers and uses as the `auths` key. */
export function serverAddress(registry: string): string {
  return normaliseRegistryHost(registry) === 'docker.io' ? DOCKER_HUB_AUTH_KEY : registry;
}

export interface DockerConfigCredentialsOptions {
  /** Directory holding config.json; default `$DOCKER_CONFIG` or `~/.docker`. */
  configDir?: string;
  /** Environment for locating the config and running helpers (PATH). Default `process.env`. */
  env?: NodeJS.ProcessEnv;
  /** Kill a credential helper that has not answered after this long. Default 30 s. */
  helperTimeoutMs?: number;
}

/**
 * Docker's credential sources, read on every `get` (so a `login` in between is seen):
 * `credHelpers[host]`, then `credsStore`, via `docker-credential-NAME get`, then
 * the `auths` entry (base64 `user:pass` in `auth`, or `username`/`password`,
 * and `identitytoken`). A missing or failing helper, or an unreadable config,
 * never breaks anonymous access: it is logged (`NODE_DEBUG=berth`) and treated as no credentials.
 */
export class DockerConfigCredentials implements CredentialProvider {
  readonly configDir: string;
  private readonly env: NodeJS.ProcessEnv;
  private readonly helperTimeoutMs: number;

  constructor(opts: DockerConfigCredentialsOptions = {}) {
    this.env = opts.env ?? process.env;
    this.configDir = opts.configDir ?? dockerConfigDir(this.env);
    this.helperTimeoutMs = opts.helperTimeoutMs ?? 30_000;
  }

  async get(registry: string): Promise<AuthCredentials | undefined> {
    const host = normaliseRegistryHost(registry);
    const file = join(this.configDir, 'config.json');
    let cfg: DockerConfigFile;
    try {
      cfg = await readDockerConfig(file);
    } catch (err) {
      debug('credentials for %s: ignoring %s: %s', host, file, describeError(err));
      return undefined;
    }
    const helper = findHelper(cfg, host);
    if (helper) {
      const fromHelper = await this.runHelper(helper, serverAddress(host)).catch((err: unknown) => {
        debug('credentials for %s: helper docker-credential-%s: %s', host, helper, describeError(err));
        return undefined;
      });
      if (fromHelper) return fromHelper;
    }
    return fromAuths(cfg, host);
  }

  private async runHelper(name: string, server: string): Promise<AuthCredentials | undefined> {
    if (!/^[A-Za-z0-9._-]+$/.test(name)) {
      throw new Error(`invalid helper name ${JSON.stringify(name)}`);
    }
    // child_process is loaded only when a helper is configured (most runs have none).
    const { spawn } = await import('node:child_process');
    return new Promise((resolve, reject) => {
      const child = spawn(`docker-credential-${name}`, ['get'], { env: this.env, stdio: ['pipe', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        reject(new Error(`timed out after ${this.helperTimeoutMs} ms`));
      }, this.helperTimeoutMs);
      child.stdout.setEncoding('utf8').on('data', (d: string) => {
        if (stdout.length < 1 << 20) stdout += d;
      });
      child.stderr.setEncoding('utf8').on('data', (d: string) => {
        if (stderr.length < 1 << 16) stderr += d;
      });
      child.on('error', (err) => {
        clearTimeout(timer);
        reject(err);
      });
      child.stdin.on('error', () => {
        /* the helper may exit without reading stdin; its exit status says what happened */
      });
      child.on('close', (code) => {
        clearTimeout(timer);
        const out = stdout.trim();
        if (code !== 0) {
          if (/credentials not found/i.test(out) || /credentials not found/i.test(stderr)) {
            resolve(undefined);
            return;
          }
          reject(new Error(`exited with status ${code}: ${(stderr || out).replace(/\s+/g, ' ').trim().slice(0, 200)}`));
          return;
        }
        let parsed: unknown;
        try {
          parsed = JSON.parse(out);
        } catch {
          reject(new Error('printed something that is not JSON'));
          return;
        }
        const p = parsed as { Username?: unknown; Secret?: unknown };
        if (typeof p.Secret !== 'string' || p.Secret === '') {
          resolve(undefined);
          return;
        }
        const username = typeof p.Username === 'string' ? p.Username : '';
        // docker's convention: Username "<token>" means Secret is an identity token.
        if (username === '<token>') resolve({ identityToken: p.Secret });
        else resolve({ username, password: p.Secret });
      });
      child.stdin.end(server);
    });
  }
}

async function readDockerConfig(file: string): Promise<DockerConfigFile> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return {};
    throw err;
  }
  if (text.trim() === '') return {};
  const parsed: unknown = JSON.parse(text);
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) throw new Error('not a JSON object');
  return parsed as DockerConfigFile;
}

function findHelper(cfg: DockerConfigFile, host: string): string | undefined {
  const helpers = cfg.credHelpers && typeof cfg.credHelpers === 'object' ? cfg.credHelpers : {};
  for (const [key, name] of Object.entries(helpers)) {
    if (typeof name === 'string' && name && authKeyHost(key) === host) return name;
  }
  return typeof cfg.credsStore === 'string' && cfg.credsStore ? cfg.credsStore : undefined;
}

function authKeysFor(host: string): (key: string) => boolean {
  if (host === 'docker.io') return (key) => DOCKER_HUB_KEYS.includes(key) || authKeyHost(key) === 'docker.io';
  return (key) => authKeyHost(key) === host;
}

function fromAuths(cfg: DockerConfigFile, host: string): AuthCredentials | undefined {
  const auths = cfg.auths && typeof cfg.auths === 'object' ? cfg.auths : {};
  const matches = authKeysFor(host);
  // Prefer an exact key over a URL form of the same host.
  const keys = Object.keys(auths).filter(matches).sort((a, b) => Number(b === host || b === serverAddress(host)) - Number(a === host || a === serverAddress(host)));
  for (const key of keys) {
    const entry = auths[key];
    if (!entry || typeof entry !== 'object') continue;
    const out: AuthCredentials = {};
    if (typeof entry.auth === 'string' && entry.auth) {
      const decoded = Buffer.from(entry.auth, 'base64').toString('utf8');
      const colon = decoded.indexOf(':');
      if (colon > 0) {
        out.username = decoded.slice(0, colon);
        out.password = decoded.slice(colon + 1);
      }
    } else if (typeof entry.username === 'string' && typeof entry.password === 'string') {
      out.username = entry.username;
      out.password = entry.password;
    }
    if (typeof entry.identitytoken === 'string' && entry.identitytoken) out.identityToken = entry.identitytoken;
    if (out.username !== undefined || out.identityToken !== undefined) return out;
  }
  return undefined;
}

/**
 * Write (or, with `entry` undefined, remove) the `auths` entry for a registry in
 * `configDir/config.json`, keeping every other key. Atomic: temp file (mode 0600),
 * fsync, rename. Returns whether anything changed.
 */
export async function updateDockerAuth(opts: { configDir: string; registry: string; entry: { auth: string } | undefined }): Promise<boolean> {
  const host = normaliseRegistryHost(opts.registry);
  const file = join(opts.configDir, 'config.json');
  let cfg: DockerConfigFile;
  try {
    cfg = await readDockerConfig(file);
  } catch (err) {
    throw BerthError.wrap(`update ${file}`, err, 'EINVAL_ARGUMENT');
  }
  const auths: NonNullable<DockerConfigFile['auths']> = cfg.auths && typeof cfg.auths === 'object' ? { ...cfg.auths } : {};
  const matches = authKeysFor(host);
  let changed = false;
  for (const key of Object.keys(auths)) {
    if (matches(key)) {
      delete auths[key];
      changed = true;
    }
  }
  if (opts.entry) {
    auths[serverAddress(host)] = opts.entry;
    changed = true;
  }
  if (!changed) return false;
  cfg.auths = auths;
  await mkdir(opts.configDir, { recursive: true, mode: 0o700 });
  const tmp = join(opts.configDir, `.config.json.${randomBytes(6).toString('hex')}.tmp`);
  try {
    const fh = await open(tmp, 'wx', 0o600);
    try {
      await fh.writeFile(`${JSON.stringify(cfg, null, '\t')}\n`);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, file);
  } catch (err) {
    await rm(tmp, { force: true });
    throw BerthError.wrap(`write ${file}`, err, 'EINVAL_ARGUMENT');
  }
  credentialsChanges++;
  return true;
}
