/**
 * Published ports: docker's `-p` syntax, `-P` from an image's ExposedPorts, host ports chosen
 * and checked before the container starts, and the portmap plugin's `portMappings`.
 */
import { createSocket } from 'node:dgram';
import { isIP } from 'node:net';
import { createServer } from 'node:net';
import { BerthError } from '@berth/oci';

export type PortProtocol = 'tcp' | 'udp';

/** One parsed `-p` spec: a container port range and the host side asked for. */
export interface PortSpec {
  /** Host address to listen on; '' for all (docker's default 0.0.0.0). */
  hostIP: string;
  /** Host port range asked for; both 0 for "any free port". */
  hostPortStart: number;
  hostPortEnd: number;
  containerPortStart: number;
  containerPortEnd: number;
  protocol: PortProtocol;
}

/** One mapping as the portmap plugin takes it (`runtimeConfig.portMappings[]`). */
export interface PortMapping {
  hostPort: number;
  containerPort: number;
  protocol: PortProtocol;
  /** '' (or absent) for all host addresses. */
  hostIP?: string;
}

function bad(spec: string, why: string): BerthError {
  return new BerthError('EINVAL_ARGUMENT', `invalid publish spec ${JSON.stringify(spec)}: ${why} (the form is [IP:][HOSTPORT:]CONTAINERPORT[/tcp|udp], ports may be ranges such as 8000-8010)`);
}

function parseRange(text: string, spec: string, what: string): [number, number] {
  const m = /^(\d{1,5})(?:-(\d{1,5}))?$/.exec(text);
  if (!m) throw bad(spec, `${what} ${JSON.stringify(text)} is not a port or a range`);
  const a = Number(m[1]);
  const b = m[2] === undefined ? a : Number(m[2]);
  if (a < 1 || a > 65535 || b < 1 || b > 65535) throw bad(spec, `${what} ${text} is outside 1-65535`);
  if (b < a) throw bad(spec, `${what} range ${text} ends before it starts`);
  return [a, b];
}

/**
 * Parse one `-p` value, every form docker takes: `80`, `8080:80`, `127.0.0.1:8080:80`,
 * `127.0.0.1::80`, `[::1]:8080:80`, ranges (`8000-8001:80-81`, `8000-8010:80` = one free port
 * of the range), and `/tcp` or `/udp`. Throws EINVAL_ARGUMENT naming what is wrong.
 */
export function parsePublishSpec(spec: string): PortSpec {
  let rest = spec.trim();
  let protocol: PortProtocol = 'tcp';
  const slash = rest.lastIndexOf('/');
  if (slash >= 0) {
    const proto = rest.slice(slash + 1).toLowerCase();
    if (proto !== 'tcp' && proto !== 'udp') throw bad(spec, `protocol ${JSON.stringify(proto)} is not tcp or udp`);
    protocol = proto;
    rest = rest.slice(0, slash);
  }
  let hostIP = '';
  if (rest.startsWith('[')) {
    const close = rest.indexOf(']');
    if (close < 0 || rest[close + 1] !== ':') throw bad(spec, 'an IPv6 address must be written [ADDR]:');
    hostIP = rest.slice(1, close);
    if (isIP(hostIP) !== 6) throw bad(spec, `${hostIP} is not an IPv6 address`);
    rest = rest.slice(close + 2);
  }
  const parts = rest.split(':');
  let hostPart = '';
  let containerPart: string;
  if (hostIP) {
    if (parts.length !== 2) throw bad(spec, 'after the address come HOSTPORT:CONTAINERPORT');
    [hostPart, containerPart] = parts as [string, string];
  } else if (parts.length === 1) {
    containerPart = parts[0] ?? '';
  } else if (parts.length === 2) {
    [hostPart, containerPart] = parts as [string, string];
  } else if (parts.length === 3) {
    hostIP = parts[0] ?? '';
    hostPart = parts[1] ?? '';
    containerPart = parts[2] ?? '';
    if (isIP(hostIP) !== 4) throw bad(spec, `${JSON.stringify(hostIP)} is not an IPv4 address (write IPv6 as [ADDR])`);
  } else {
    throw bad(spec, 'too many colons');
  }
  if (!containerPart) throw bad(spec, 'the container port is missing');
  const [cs, ce] = parseRange(containerPart, spec, 'container port');
  let hs = 0;
  let he = 0;
  if (hostPart) {
    [hs, he] = parseRange(hostPart, spec, 'host port');
    const hostLen = he - hs;
    const containerLen = ce - cs;
    // docker: equal ranges map one to one; a host range with one container port picks one port of it.
    if (hostLen !== containerLen && !(containerLen === 0 && hostLen > 0)) {
      throw bad(spec, `the host range ${hostPart} and the container range ${containerPart} differ in length`);
    }
  }
  if (hostIP === '0.0.0.0' || hostIP === '::') hostIP = hostIP === '::' ? '::' : '';
  return { hostIP, hostPortStart: hs, hostPortEnd: he, containerPortStart: cs, containerPortEnd: ce, protocol };
}

/**
 * `-P`: every port of the image config's `ExposedPorts` (`{"80/tcp": {}}`), published on a
 * free host port of all addresses.
 */
export function publishAllSpecs(exposedPorts: Record<string, unknown> | undefined): PortSpec[] {
  return Object.keys(exposedPorts ?? {})
    .sort()
    .map((key) => {
      const m = /^(\d{1,5})(?:-(\d{1,5}))?(?:\/(tcp|udp|sctp))?$/i.exec(key);
      if (!m) throw new BerthError('EINVAL_CONFIG', `publish the image's exposed ports: ${JSON.stringify(key)} is not PORT[/PROTOCOL]`);
      if ((m[3] ?? 'tcp').toLowerCase() === 'sctp') return undefined;
      return parsePublishSpec(`${m[1]}${m[2] ? `-${m[2]}` : ''}/${(m[3] ?? 'tcp').toLowerCase()}`);
    })
    .filter((s): s is PortSpec => s !== undefined);
}

/** True when (ip, port, protocol) can be bound on the host now. */
export async function hostPortFree(m: { hostIP?: string; hostPort: number; protocol: PortProtocol }): Promise<boolean> {
  const host = m.hostIP || '0.0.0.0';
  if (m.protocol === 'udp') {
    return new Promise((resolve) => {
      const sock = createSocket(isIP(host) === 6 ? 'udp6' : 'udp4');
      sock.once('error', () => {
        sock.close();
        resolve(false);
      });
      sock.bind({ address: host, port: m.hostPort, exclusive: true }, () => sock.close(() => resolve(true)));
    });
  }
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen({ host, port: m.hostPort, exclusive: true }, () => server.close(() => resolve(true)));
  });
}

/** A port the kernel considers free (bind to port 0), from its ephemeral range like docker's. */
async function ephemeralPort(hostIP: string, protocol: PortProtocol): Promise<number> {
  const host = hostIP || '0.0.0.0';
  if (protocol === 'udp') {
    return new Promise((resolve, reject) => {
      const sock = createSocket(isIP(host) === 6 ? 'udp6' : 'udp4');
      sock.once('error', reject);
      sock.bind({ address: host, port: 0, exclusive: true }, () => {
        const port = sock.address().port;
        sock.close(() => resolve(port));
      });
    });
  }
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen({ host, port: 0, exclusive: true }, () => {
      const addr = server.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      server.close(() => resolve(port));
    });
  });
}

function overlapsHost(a: PortMapping, b: PortMapping): boolean {
  if (a.protocol !== b.protocol || a.hostPort !== b.hostPort) return false;
  const ai = a.hostIP || '';
  const bi = b.hostIP || '';
  return ai === '' || bi === '' || ai === '::' || bi === '::' || ai === bi;
}

export interface ResolvePortsOptions {
  /** Mappings already published by other containers (from the CNI cache): portmap DNATs without binding, so binding alone does not see them. */
  inUse?: readonly PortMapping[];
  /** The bind test; default `hostPortFree`. */
  isFree?: (m: PortMapping) => Promise<boolean>;
}

/**
 * Turn specs into concrete mappings, choosing free host ports where none (or a range) was
 * given, and refuse with ENETWORK_CONFLICT, before anything starts, a host port that another
 * container publishes, that two specs ask for, or that something on the host has bound.
 */
export async function resolvePortMappings(specs: readonly PortSpec[], opts: ResolvePortsOptions = {}): Promise<PortMapping[]> {
  const isFree = opts.isFree ?? hostPortFree;
  const taken: PortMapping[] = [...(opts.inUse ?? [])];
  const out: PortMapping[] = [];
  const conflict = (m: PortMapping): string | undefined => {
    const other = taken.find((t) => overlapsHost(t, m));
    if (other) return `${m.hostIP || '0.0.0.0'}:${m.hostPort}/${m.protocol} is already published${(opts.inUse ?? []).includes(other) ? ' by another container' : ' twice'}`;
    return undefined;
  };
  const take = (m: PortMapping): void => {
    taken.push(m);
    out.push(m);
  };
  for (const spec of specs) {
    const base = (hostPort: number, containerPort: number): PortMapping => ({ hostPort, containerPort, protocol: spec.protocol, ...(spec.hostIP ? { hostIP: spec.hostIP } : {}) });
    const count = spec.containerPortEnd - spec.containerPortStart + 1;
    if (spec.hostPortStart === 0) {
      for (let i = 0; i < count; i++) {
        let m: PortMapping | undefined;
        for (let tries = 0; tries < 20 && !m; tries++) {
          const candidate = base(await ephemeralPort(spec.hostIP, spec.protocol), spec.containerPortStart + i);
          if (!conflict(candidate)) m = candidate;
        }
        if (!m) throw new BerthError('ENETWORK_CONFLICT', `publish container port ${spec.containerPortStart + i}/${spec.protocol}: no free host port found`);
        take(m);
      }
    } else if (count === 1 && spec.hostPortEnd > spec.hostPortStart) {
      // One container port, a host range: the first free port of it.
      let m: PortMapping | undefined;
      for (let p = spec.hostPortStart; p <= spec.hostPortEnd && !m; p++) {
        const candidate = base(p, spec.containerPortStart);
        if (!conflict(candidate) && (await isFree(candidate))) m = candidate;
      }
      if (!m) throw new BerthError('ENETWORK_CONFLICT', `publish ${spec.hostIP || '0.0.0.0'}:${spec.hostPortStart}-${spec.hostPortEnd}/${spec.protocol}: every host port of the range is in use`);
      take(m);
    } else {
      for (let i = 0; i < count; i++) {
        const m = base(spec.hostPortStart + i, spec.containerPortStart + i);
        const why = conflict(m);
        if (why) throw new BerthError('ENETWORK_CONFLICT', `publish port ${m.hostPort}: ${why}`);
        if (!(await isFree(m))) {
          throw new BerthError('ENETWORK_CONFLICT', `publish port ${m.hostPort}: ${m.hostIP || '0.0.0.0'}:${m.hostPort}/${m.protocol} is already in use on the host`);
        }
        take(m);
      }
    }
  }
  return out;
}
