/**
 * A container's /etc/resolv.conf and /etc/hosts, by docker's rules (libnetwork resolvconf):
 * the host's resolv.conf with loopback nameservers (127.0.0.0/8, ::1) removed, since they
 * mean nothing inside another network namespace; IPv6 nameservers removed when the container
 * has no IPv6; Google's public DNS (8.8.8.8, 8.8.4.4) when nothing is left. With
 * systemd-resolved's stub (127.0.0.53) as the only host resolver, the real upstream list in
 * /run/systemd/resolve/resolv.conf is read instead, as dockerd does.
 *
 * On user networks `nameservers` is the network's resolver (aardvark-dns on the gateway,
 * resolver.ts), which forwards other names to the host's resolvers itself.
 */
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { isIP } from 'node:net';

export const DEFAULT_IPV4_DNS = ['8.8.8.8', '8.8.4.4'];
export const DEFAULT_IPV6_DNS = ['2001:4860:4860::8888', '2001:4860:4860::8844'];
const SYSTEMD_STUB = '127.0.0.53';
const SYSTEMD_UPSTREAM = '/run/systemd/resolve/resolv.conf';

export interface ResolvConf {
  nameservers: string[];
  search: string[];
  options: string[];
}

/** Parse resolv.conf text: nameserver, search/domain (the last wins, as in glibc), options. */
export function parseResolvConf(text: string): ResolvConf {
  const out: ResolvConf = { nameservers: [], search: [], options: [] };
  for (const raw of text.split('\n')) {
    const line = raw.replace(/[#;].*/, '').trim();
    const [key, ...values] = line.split(/\s+/);
    if (key === 'nameserver' && values[0] && isIP(values[0].split('%')[0] ?? '')) out.nameservers.push(values[0]);
    else if (key === 'search' || key === 'domain') out.search = values;
    else if (key === 'options') out.options.push(...values);
  }
  return out;
}

function isLoopback(ns: string): boolean {
  return ns === '::1' || (isIP(ns) === 4 && ns.startsWith('127.'));
}

/** The host's nameservers a container can use: loopback ones dropped, IPv6 ones dropped without IPv6, Google DNS when none is left. */
export function upstreamNameservers(host: ResolvConf, opts: { ipv6?: boolean } = {}): string[] {
  const kept = host.nameservers.filter((ns) => !isLoopback(ns) && (opts.ipv6 || isIP(ns.split('%')[0] ?? '') !== 6));
  if (kept.length > 0) return kept;
  return opts.ipv6 ? [...DEFAULT_IPV4_DNS, ...DEFAULT_IPV6_DNS] : [...DEFAULT_IPV4_DNS];
}

/** The host's resolver configuration (systemd-resolved's upstream list behind its stub). */
export async function readHostResolvConf(file = '/etc/resolv.conf'): Promise<ResolvConf> {
  const text = await readFile(file, 'utf8').catch(() => '');
  return behindStub(parseResolvConf(text), async () => readFile(SYSTEMD_UPSTREAM, 'utf8').catch(() => undefined));
}

/** readHostResolvConf for synchronous callers (the runtime writing a container's files). */
export function readHostResolvConfSync(file = '/etc/resolv.conf'): ResolvConf {
  return behindStubSync(parseResolvConf(readOr(file, '')), () => readOr(SYSTEMD_UPSTREAM, undefined));
}

function readOr<T extends string | undefined>(file: string, fallback: T): string | T {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return fallback;
  }
}

function stubOnly(conf: ResolvConf): boolean {
  return conf.nameservers.length > 0 && conf.nameservers.every((ns) => ns === SYSTEMD_STUB);
}

function withUpstream(conf: ResolvConf, upstream: string | undefined): ResolvConf {
  return upstream === undefined ? conf : { ...parseResolvConf(upstream), search: conf.search, options: conf.options };
}

async function behindStub(conf: ResolvConf, upstream: () => Promise<string | undefined>): Promise<ResolvConf> {
  return stubOnly(conf) ? withUpstream(conf, await upstream()) : conf;
}

function behindStubSync(conf: ResolvConf, upstream: () => string | undefined): ResolvConf {
  return stubOnly(conf) ? withUpstream(conf, upstream()) : conf;
}

/**
 * The files of a container berth gives no network attachment of its own (`--network none`,
 * or before a network is wired): docker's localhost lines with the hostname on 127.0.1.1,
 * and the host's nameservers by the rules above. `--network host` takes the host's files
 * as they are (`hostEtcFiles`).
 */
export function isolatedEtcFiles(opts: { hostname: string; hostResolvConf?: string }): { hosts: string; resolvConf: string } {
  return {
    hosts: containerHosts({ hostname: opts.hostname, addresses: ['127.0.1.1'] }),
    resolvConf: containerResolvConf({ host: readHostResolvConfSync(opts.hostResolvConf) }),
  };
}

/** `--network host`: the host's /etc/hosts and /etc/resolv.conf as they are, as docker does. */
export function hostEtcFiles(opts: { hostsFile?: string; resolvConfFile?: string } = {}): { hosts: string; resolvConf: string } {
  return {
    hosts: readOr(opts.hostsFile ?? '/etc/hosts', '127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n'),
    resolvConf: readOr(opts.resolvConfFile ?? '/etc/resolv.conf', ''),
  };
}

export interface ContainerResolvOptions {
  /** The host's configuration (from `readHostResolvConf`). */
  host: ResolvConf;
  /** `--dns`, or the user network's resolver: replaces the nameservers. */
  nameservers?: string[];
  /** `--dns-search`: replaces the search list. */
  search?: string[];
  /** `--dns-option`: added to the host's options. */
  options?: string[];
  ipv6?: boolean;
}

/** The text of a container's /etc/resolv.conf. */
export function containerResolvConf(opts: ContainerResolvOptions): string {
  const nameservers = opts.nameservers && opts.nameservers.length > 0 ? opts.nameservers : upstreamNameservers(opts.host, { ipv6: opts.ipv6 ?? false });
  const search = opts.search ?? opts.host.search;
  const options = [...new Set([...opts.host.options, ...(opts.options ?? [])])];
  const lines: string[] = [];
  if (search.length > 0 && search.join(' ').trim() !== '.') lines.push(`search ${search.join(' ')}`);
  for (const ns of nameservers) lines.push(`nameserver ${ns}`);
  if (options.length > 0) lines.push(`options ${options.join(' ')}`);
  return `${lines.join('\n')}\n`;
}

export interface ContainerHostsOptions {
  /** The container's hostname (docker: its short ID unless --hostname). */
  hostname: string;
  /** Its addresses (no prefix length), each given the hostname and `aliases`. */
  addresses: string[];
  /** `--network-alias` names, and the container's `--name`. */
  aliases?: string[];
  /** `--add-host NAME:IP` entries. */
  extraHosts?: Array<{ name: string; ip: string }>;
}

/** The text of a container's /etc/hosts: docker's localhost and IPv6 lines, extra hosts, then its own addresses. */
export function containerHosts(opts: ContainerHostsOptions): string {
  const lines = [
    '127.0.0.1\tlocalhost',
    '::1\tlocalhost ip6-localhost ip6-loopback',
    'fe00::0\tip6-localnet',
    'ff00::0\tip6-mcastprefix',
    'ff02::1\tip6-allnodes',
    'ff02::2\tip6-allrouters',
  ];
  for (const h of opts.extraHosts ?? []) lines.push(`${h.ip}\t${h.name}`);
  const names = [...new Set([opts.hostname, ...(opts.aliases ?? [])])].join(' ');
  for (const addr of opts.addresses) lines.push(`${addr.split('/')[0]}\t${names}`);
  return `${lines.join('\n')}\n`;
}
