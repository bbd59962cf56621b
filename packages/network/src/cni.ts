/**
 * The CNI protocol (containernetworking/cni SPEC.md, version 1.0.0) from the runtime's side:
 * run a plugin binary with CNI_COMMAND/CNI_CONTAINERID/CNI_NETNS/CNI_IFNAME/CNI_PATH in its
 * environment and its configuration on stdin, read its result or error from stdout.
 *
 * A network configuration list runs as libcni runs it: ADD calls each plugin in order, each
 * given the previous one's result as `prevResult`; DEL calls them in reverse order with the
 * cached ADD result; CHECK calls them in order with the cached result. The cache (one JSON
 * file per attachment under `cacheDir`) also keeps the configuration list and the runtime
 * arguments (published ports), so a container can be taken off a network after the network
 * itself was changed or removed, and after berth was killed. The entry is written BEFORE the
 * first plugin runs (without a result), so a SIGKILL in the middle of an ADD leaves a record
 * that the sweep turns into a DEL.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readFile, readdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { BerthError, describeError } from '@berth/oci';
import { writeFileAtomic } from '@berth/store';
import { parseCniError, parseCniResult, type CniResult } from './result.js';
import { dyingWithUs } from './orphan.js';

/** The CNI version berth speaks; Debian bookworm's plugins (1.1.1) support 0.1.0 … 1.0.0. */
export const CNI_VERSION = '1.0.0';

/** Where Debian's containernetworking-plugins put the plugin binaries. */
export const DEFAULT_CNI_PATH = ['/usr/lib/cni'];

export type CniCommand = 'ADD' | 'DEL' | 'CHECK' | 'VERSION';

/** One plugin of a list: `type` names the binary; the rest is the plugin's own configuration. */
export interface CniPluginConf {
  type: string;
  /** Runtime arguments the plugin accepts, e.g. `{ portMappings: true }` for portmap. */
  capabilities?: Record<string, boolean>;
  [key: string]: unknown;
}

/** A network configuration list (SPEC.md "Configuration format"). */
export interface NetworkConfList {
  cniVersion: string;
  name: string;
  disableCheck?: boolean;
  plugins: CniPluginConf[];
}

/** The container side of one attachment. */
export interface CniRuntimeConf {
  /** The container ID (CNI_CONTAINERID): letters, digits, `_ . -`. */
  containerId: string;
  /** Path of the container's network namespace (CNI_NETNS). */
  netns: string;
  /** Interface name inside the container (CNI_IFNAME), e.g. eth0. */
  ifName: string;
  /** CNI_ARGS, `K=V;K=V`. */
  args?: Array<[string, string]>;
  /** Values for the plugins' declared capabilities, passed as `runtimeConfig` (e.g. `portMappings`). */
  capabilityArgs?: Record<string, unknown>;
}

export interface CniOptions {
  /** Directories searched for plugin binaries, in order (CNI_PATH). Default /usr/lib/cni. */
  pluginDirs?: readonly string[];
  /** Where attachments are cached (berth's counterpart of /var/lib/cni/results). */
  cacheDir: string;
  /** A plugin still running after this long is killed and the call fails. Default 60 s. */
  timeoutMs?: number;
}

export interface InvokeOptions {
  pluginDirs?: readonly string[];
  command: CniCommand;
  /** Plugin binary name (the conf's `type`). */
  type: string;
  /** The configuration written to the plugin's stdin. */
  config: Record<string, unknown>;
  /** CNI_* values; absent for VERSION. */
  runtime?: Pick<CniRuntimeConf, 'containerId' | 'netns' | 'ifName' | 'args'>;
  timeoutMs?: number;
}

/** What the cache holds for one attachment (network × container × interface). */
export interface CachedAttachment {
  kind: 'berth-cni-attachment/v1';
  containerId: string;
  ifName: string;
  netns: string;
  networkName: string;
  config: NetworkConfList;
  capabilityArgs?: Record<string, unknown>;
  /** Absent while the ADD runs (or when it was killed before it finished). */
  result?: CniResult;
}

const MAX_OUTPUT = 1 << 20;
const NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;

function oneLine(text: string): string {
  return text.replace(/\s*\n\s*/g, ' ').trim();
}

/** The plugin binary for `type`: the first of `dirs` that has it. */
export function findPlugin(type: string, dirs: readonly string[] = DEFAULT_CNI_PATH): string {
  if (!NAME.test(type)) throw new BerthError('ENETWORK_PLUGIN', `find CNI plugin ${JSON.stringify(type)}: not a plugin name`);
  for (const dir of dirs) {
    const candidate = path.join(dir, type);
    if (existsSync(candidate)) return candidate;
  }
  throw new BerthError('ENETWORK_PLUGIN', `find CNI plugin ${type}: not in ${dirs.join(':')} (Debian package containernetworking-plugins)`);
}

/**
 * Run one plugin once. Resolves with its parsed stdout (undefined when it printed nothing,
 * as DEL and CHECK do); rejects with ENETWORK_PLUGIN carrying the plugin's own `msg` and
 * `details` (and its CNI error code in `details.cniCode`) on one line.
 */
export async function invokePlugin(opts: InvokeOptions): Promise<unknown> {
  const dirs = opts.pluginDirs ?? DEFAULT_CNI_PATH;
  const bin = findPlugin(opts.type, dirs);
  const env: NodeJS.ProcessEnv = {
    // The plugins run iptables, sysctl and ip themselves.
    PATH: process.env['PATH'] || '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
    CNI_COMMAND: opts.command,
    CNI_PATH: dirs.join(':'),
  };
  if (opts.runtime) {
    env['CNI_CONTAINERID'] = opts.runtime.containerId;
    env['CNI_NETNS'] = opts.runtime.netns;
    env['CNI_IFNAME'] = opts.runtime.ifName;
    env['CNI_ARGS'] = (opts.runtime.args ?? []).map(([k, v]) => `${k}=${v}`).join(';');
  }
  const doing = `CNI ${opts.command} ${opts.type}${opts.runtime ? ` for ${opts.runtime.containerId}` : ''}`;
  const { code, signal, stdout, stderr, error } = await new Promise<{
    code: number | null;
    signal: NodeJS.Signals | null;
    stdout: string;
    stderr: string;
    error?: Error;
  }>((resolve) => {
    const cmd = dyingWithUs(bin, []);
    const child = spawn(cmd.file, cmd.args, { env, stdio: ['pipe', 'pipe', 'pipe'], timeout: opts.timeoutMs ?? 60_000, killSignal: 'SIGKILL' });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let outLen = 0;
    let errLen = 0;
    child.stdout.on('data', (b: Buffer) => {
      if (outLen < MAX_OUTPUT) out.push(b);
      outLen += b.length;
    });
    child.stderr.on('data', (b: Buffer) => {
      if (errLen < MAX_OUTPUT) err.push(b);
      errLen += b.length;
    });
    let spawnError: Error | undefined;
    child.on('error', (e) => {
      spawnError = e;
    });
    child.stdin.on('error', () => {
      // A plugin that exits without reading its stdin (EPIPE): its exit status tells.
    });
    child.stdin.end(JSON.stringify(opts.config));
    child.on('close', (c, s) => {
      const res = { code: c, signal: s, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8') };
      resolve(spawnError ? { ...res, error: spawnError } : res);
    });
  });
  if (error) throw new BerthError('ENETWORK_PLUGIN', `${doing}: ${describeError(error)}`, { cause: error });
  let parsed: unknown;
  if (stdout.trim()) {
    try {
      parsed = JSON.parse(stdout);
    } catch {
      parsed = undefined;
    }
  }
  if (code === 0) {
    if (stdout.trim() && parsed === undefined) {
      throw new BerthError('ENETWORK_PLUGIN', `${doing}: the plugin printed something that is not JSON: ${oneLine(stdout).slice(0, 200)}`);
    }
    return parsed;
  }
  const cniErr = parseCniError(parsed);
  if (cniErr) {
    const text = oneLine(cniErr.details ? `${cniErr.msg}: ${cniErr.details}` : cniErr.msg);
    throw new BerthError('ENETWORK_PLUGIN', `${doing}: ${text}`, { details: { plugin: opts.type, cniCode: cniErr.code } });
  }
  const why = signal ? `killed by ${signal}${signal === 'SIGKILL' ? ' (timed out?)' : ''}` : `exit status ${code}`;
  const said = oneLine(stderr || stdout).slice(0, 300);
  throw new BerthError('ENETWORK_PLUGIN', `${doing}: ${why}${said ? `: ${said}` : ''}`, { details: { plugin: opts.type } });
}

/** The CNI versions a plugin supports (its VERSION command). */
export async function pluginVersions(type: string, pluginDirs?: readonly string[]): Promise<string[]> {
  const out = await invokePlugin({ type, command: 'VERSION', config: { cniVersion: CNI_VERSION }, ...(pluginDirs ? { pluginDirs } : {}) });
  const versions = (out as { supportedVersions?: unknown } | undefined)?.supportedVersions;
  if (!Array.isArray(versions) || !versions.every((v) => typeof v === 'string')) {
    throw new BerthError('ENETWORK_PLUGIN', `CNI VERSION ${type}: no supportedVersions list in its answer`);
  }
  return versions as string[];
}

/** Check a configuration list's shape before any plugin runs. */
export function validateConfList(list: NetworkConfList): void {
  const where = `network configuration ${JSON.stringify(list.name)}`;
  if (typeof list.name !== 'string' || !NAME.test(list.name)) throw new BerthError('EINVAL_ARGUMENT', `${where}: the name must be letters, digits, _ . -`);
  if (typeof list.cniVersion !== 'string' || !list.cniVersion) throw new BerthError('EINVAL_ARGUMENT', `${where}: cniVersion is missing`);
  if (!Array.isArray(list.plugins) || list.plugins.length === 0) throw new BerthError('EINVAL_ARGUMENT', `${where}: no plugins`);
  for (const p of list.plugins) {
    if (typeof p?.type !== 'string' || !NAME.test(p.type)) throw new BerthError('EINVAL_ARGUMENT', `${where}: a plugin has no valid type`);
  }
}

function validateRuntime(rt: CniRuntimeConf): void {
  if (!NAME.test(rt.containerId)) throw new BerthError('EINVAL_ARGUMENT', `CNI attachment: container ID ${JSON.stringify(rt.containerId)} is not letters, digits, _ . -`);
  if (!/^[A-Za-z0-9_.-]{1,15}$/.test(rt.ifName)) throw new BerthError('EINVAL_ARGUMENT', `CNI attachment: interface name ${JSON.stringify(rt.ifName)} is not a Linux interface name`);
  if (!path.isAbsolute(rt.netns)) throw new BerthError('EINVAL_ARGUMENT', `CNI attachment: netns ${JSON.stringify(rt.netns)} is not an absolute path`);
}

/** One plugin's stdin: its conf plus the list's name and version, prevResult and the runtimeConfig it declared. */
function pluginConfig(list: NetworkConfList, plugin: CniPluginConf, prevResult: CniResult | undefined, capabilityArgs: Record<string, unknown> | undefined): Record<string, unknown> {
  const conf: Record<string, unknown> = { ...plugin, name: list.name, cniVersion: list.cniVersion };
  if (prevResult) conf['prevResult'] = prevResult;
  const runtimeConfig: Record<string, unknown> = {};
  for (const [cap, on] of Object.entries(plugin.capabilities ?? {})) {
    if (on && capabilityArgs && cap in capabilityArgs) runtimeConfig[cap] = capabilityArgs[cap];
  }
  if (Object.keys(runtimeConfig).length > 0) conf['runtimeConfig'] = runtimeConfig;
  return conf;
}

function cacheFile(cacheDir: string, networkName: string, containerId: string, ifName: string): string {
  // '+' is in none of the three names, so two attachments never share a file.
  return path.join(cacheDir, `${networkName}+${containerId}+${ifName}.json`);
}

async function writeCache(cacheDir: string, entry: CachedAttachment): Promise<void> {
  await mkdir(cacheDir, { recursive: true, mode: 0o700 });
  const file = cacheFile(cacheDir, entry.networkName, entry.containerId, entry.ifName);
  await writeFileAtomic(file, Buffer.from(JSON.stringify(entry)), cacheDir, 0o600);
}

function parseCacheEntry(text: string, file: string): CachedAttachment {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (err) {
    throw new BerthError('ENETWORK_PLUGIN', `read CNI cache ${file}: not JSON`, { cause: err });
  }
  const e = v as Partial<CachedAttachment> | null;
  if (!e || e.kind !== 'berth-cni-attachment/v1' || typeof e.containerId !== 'string' || typeof e.ifName !== 'string' || typeof e.netns !== 'string' || typeof e.networkName !== 'string' || !e.config) {
    throw new BerthError('ENETWORK_PLUGIN', `read CNI cache ${file}: not a berth attachment record`);
  }
  validateConfList(e.config);
  const entry: CachedAttachment = { kind: e.kind, containerId: e.containerId, ifName: e.ifName, netns: e.netns, networkName: e.networkName, config: e.config };
  if (e.capabilityArgs) entry.capabilityArgs = e.capabilityArgs;
  if (e.result !== undefined) entry.result = parseCniResult(e.result);
  return entry;
}

/** The cached attachment of `containerId` to network `networkName` on `ifName`, if any. */
export async function getCachedAttachment(cacheDir: string, networkName: string, containerId: string, ifName: string): Promise<CachedAttachment | undefined> {
  const file = cacheFile(cacheDir, networkName, containerId, ifName);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw BerthError.wrap(`read CNI cache ${file}`, err, 'ENETWORK_PLUGIN');
  }
  return parseCacheEntry(text, file);
}

/** Every cached attachment (optionally of one container); unreadable entries are skipped. */
export async function listCachedAttachments(cacheDir: string, containerId?: string): Promise<CachedAttachment[]> {
  let names: string[];
  try {
    names = await readdir(cacheDir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw BerthError.wrap(`list CNI cache ${cacheDir}`, err, 'ENETWORK_PLUGIN');
  }
  const out: CachedAttachment[] = [];
  for (const name of names.filter((n) => n.endsWith('.json')).sort()) {
    const file = path.join(cacheDir, name);
    try {
      const entry = parseCacheEntry(await readFile(file, 'utf8'), file);
      if (containerId === undefined || entry.containerId === containerId) out.push(entry);
    } catch {
      // A temp file or a foreign file: not an attachment.
    }
  }
  return out;
}

function invokeFor(command: 'ADD' | 'DEL' | 'CHECK', list: NetworkConfList, plugin: CniPluginConf, rt: CniRuntimeConf, opts: CniOptions, prevResult: CniResult | undefined): Promise<unknown> {
  return invokePlugin({
    command,
    type: plugin.type,
    config: pluginConfig(list, plugin, prevResult, rt.capabilityArgs),
    runtime: rt,
    ...(opts.pluginDirs ? { pluginDirs: opts.pluginDirs } : {}),
    ...(opts.timeoutMs ? { timeoutMs: opts.timeoutMs } : {}),
  });
}

/** DEL every plugin in reverse order, all of them even when one fails (a leaked rule is worse than a second error); the first error is thrown at the end. */
async function delList(list: NetworkConfList, rt: CniRuntimeConf, opts: CniOptions, prevResult: CniResult | undefined): Promise<void> {
  let firstError: unknown;
  for (const plugin of [...list.plugins].reverse()) {
    try {
      await invokeFor('DEL', list, plugin, rt, opts, prevResult);
    } catch (err) {
      const retry = masqueradeChainMissing(plugin, err);
      if (retry === undefined) firstError ??= err;
      else await invokeFor('DEL', list, retry, rt, opts, prevResult).catch((again: unknown) => (firstError ??= again));
    }
  }
  if (firstError !== undefined) throw firstError;
}

/**
 * The bridge plugin's DEL fails for good when an ADD was killed after it leased the address but
 * before it made the container's masquerade chain: its teardown deletes the POSTROUTING rule
 * that jumps to the chain first, and iptables refuses a rule naming a chain that does not
 * exist ("Chain 'CNI-…' does not exist", exit status 2). With no chain there can be no such
 * rule either, so nothing of the masquerade is left: the plugin without `ipMasq` (the same DEL
 * otherwise: the veth, the lease) is what to run again. Undefined for any other failure.
 */
function masqueradeChainMissing(plugin: CniPluginConf, err: unknown): CniPluginConf | undefined {
  if (plugin.type !== 'bridge' || plugin['ipMasq'] !== true) return undefined;
  const message = err instanceof Error ? err.message : String(err);
  return /Chain 'CNI-[0-9a-f]+' does not exist/.test(message) ? { ...plugin, ipMasq: false } : undefined;
}

/**
 * ADD the container to the network: every plugin in order, each with the previous result.
 * The attachment is cached first (without result), then again with each plugin's result (the
 * last is the final result, which is returned). When a plugin fails, the plugins are DELeted again in reverse order with the last
 * result a plugin returned as prevResult (so a failed ADD leaves no veth, rule or lease), the cache entry is removed, and the ADD's error is thrown.
 */
export async function addNetwork(list: NetworkConfList, rt: CniRuntimeConf, opts: CniOptions): Promise<CniResult> {
  validateConfList(list);
  validateRuntime(rt);
  // Every plugin is there before the first one runs: a missing one could not be DELeted either.
  for (const plugin of list.plugins) findPlugin(plugin.type, opts.pluginDirs);
  const entry: CachedAttachment = { kind: 'berth-cni-attachment/v1', containerId: rt.containerId, ifName: rt.ifName, netns: rt.netns, networkName: list.name, config: list };
  if (rt.capabilityArgs) entry.capabilityArgs = rt.capabilityArgs;
  await writeCache(opts.cacheDir, entry);
  let result: CniResult | undefined;
  try {
    for (const plugin of list.plugins) {
      const out = await invokeFor('ADD', list, plugin, rt, opts, result);
      try {
        result = parseCniResult(out);
      } catch (err) {
        throw BerthError.wrap(`CNI ADD ${plugin.type} for ${rt.containerId}`, err, 'ENETWORK_PLUGIN');
      }
      // Kept after every plugin, not only at the end: a berth SIGKILLed during the next plugin's
      // ADD leaves the sweep a prevResult to DEL with (the firewall plugin finds its rules by the
      // addresses in it; without them its rules stayed).
      await writeCache(opts.cacheDir, { ...entry, result });
    }
    if (!result) throw new BerthError('ENETWORK_PLUGIN', `CNI ADD ${list.name} for ${rt.containerId}: no plugin returned a result`);
  } catch (err) {
    try {
      // With the last result a plugin gave: the firewall plugin, for one, finds the rules to remove through prevResult.
      await delList(list, rt, opts, result);
      await rm(cacheFile(opts.cacheDir, list.name, rt.containerId, rt.ifName), { force: true });
    } catch {
      // The cache entry stays; the sweep retries the DEL. The ADD's error is the one to report.
    }
    throw err;
  }
  await writeCache(opts.cacheDir, { ...entry, result });
  return result;
}

/**
 * DEL the container from the network: every plugin in reverse order with the cached ADD
 * result as prevResult, then drop the cache entry. Idempotent: with no cache entry and no
 * `list`, nothing is done; DEL of something already gone succeeds (the plugins' contract).
 * `list` defaults to the cached configuration (the one the ADD used).
 */
export async function delNetwork(rt: Pick<CniRuntimeConf, 'containerId' | 'ifName'> & Partial<CniRuntimeConf> & { networkName: string }, opts: CniOptions, list?: NetworkConfList): Promise<void> {
  const cached = await getCachedAttachment(opts.cacheDir, rt.networkName, rt.containerId, rt.ifName);
  const conf = cached?.config ?? list;
  if (!conf) return;
  validateConfList(conf);
  const full: CniRuntimeConf = {
    containerId: rt.containerId,
    ifName: rt.ifName,
    netns: rt.netns ?? cached?.netns ?? '',
    ...(rt.args ? { args: rt.args } : {}),
  };
  const caps = rt.capabilityArgs ?? cached?.capabilityArgs;
  if (caps) full.capabilityArgs = caps;
  await delList(conf, full, opts, cached?.result);
  await rm(cacheFile(opts.cacheDir, conf.name, rt.containerId, rt.ifName), { force: true });
}

/** CHECK the attachment: every plugin in order with the cached result. Needs a completed ADD. */
export async function checkNetwork(rt: Pick<CniRuntimeConf, 'containerId' | 'ifName'> & { networkName: string }, opts: CniOptions): Promise<void> {
  const cached = await getCachedAttachment(opts.cacheDir, rt.networkName, rt.containerId, rt.ifName);
  if (!cached?.result) {
    throw new BerthError('ENETWORK_PLUGIN', `CNI CHECK ${rt.networkName} for ${rt.containerId}: no completed ADD is cached`);
  }
  if (cached.config.disableCheck) return;
  const full: CniRuntimeConf = { containerId: cached.containerId, ifName: cached.ifName, netns: cached.netns };
  if (cached.capabilityArgs) full.capabilityArgs = cached.capabilityArgs;
  for (const plugin of cached.config.plugins) await invokeFor('CHECK', cached.config, plugin, full, opts, cached.result);
}
