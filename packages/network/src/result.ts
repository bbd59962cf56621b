/**
 * The CNI result (SPEC.md "Success" for 1.0.0) and the CNI error, parsed and checked by
 * hand: a plugin is a separate program, so its output is untrusted input to berth.
 * A small validator rather than a schema library keeps `berth run`'s start-up light.
 */
import { BerthError } from '@berth/oci';

export interface CniInterface {
  name: string;
  mac?: string;
  /** The netns path for interfaces inside the container; absent for host-side ones (the bridge, the veth's host end). */
  sandbox?: string;
}

export interface CniIPConfig {
  /** CIDR, e.g. "10.88.0.2/16". */
  address: string;
  gateway?: string;
  /** Index into `interfaces`. */
  interface?: number;
}

export interface CniRoute {
  dst: string;
  gw?: string;
}

export interface CniDNS {
  nameservers?: string[];
  domain?: string;
  search?: string[];
  options?: string[];
}

export interface CniResult {
  cniVersion: string;
  interfaces?: CniInterface[];
  ips?: CniIPConfig[];
  routes?: CniRoute[];
  dns?: CniDNS;
}

/** A CNI error object (`code`, `msg`, `details`), printed by a failing plugin on stdout. */
export interface CniError {
  cniVersion?: string;
  code: number;
  msg: string;
  details?: string;
}

type Obj = Record<string, unknown>;

function isObj(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

const CIDR = /^[0-9a-fA-F.:]+\/\d{1,3}$/;
const IP = /^[0-9a-fA-F.:]+$/;

function str(o: Obj, key: string, where: string, pattern?: RegExp): string | undefined {
  const v = o[key];
  if (v === undefined) return undefined;
  if (typeof v !== 'string' || (pattern && !pattern.test(v))) throw bad(`${where}.${key} is ${JSON.stringify(v)}`);
  return v;
}

function strList(o: Obj, key: string, where: string): string[] | undefined {
  const v = o[key];
  if (v === undefined) return undefined;
  if (!Array.isArray(v) || !v.every((x) => typeof x === 'string')) throw bad(`${where}.${key} is not a list of strings`);
  return v as string[];
}

function list(o: Obj, key: string): unknown[] | undefined {
  const v = o[key];
  if (v === undefined) return undefined;
  if (!Array.isArray(v)) throw bad(`${key} is not a list`);
  return v;
}

function bad(what: string): BerthError {
  return new BerthError('ENETWORK_PLUGIN', `the result does not validate: ${what}`);
}

/**
 * Check a parsed result and copy out the fields berth uses (unknown fields are dropped).
 * Throws ENETWORK_PLUGIN naming the first field that is wrong. An `interface` index must
 * point into `interfaces`.
 */
export function parseCniResult(value: unknown): CniResult {
  if (!isObj(value)) throw bad('it is not a JSON object');
  const cniVersion = str(value, 'cniVersion', 'result');
  if (!cniVersion) throw bad('cniVersion is missing');
  const result: CniResult = { cniVersion };
  const ifs = list(value, 'interfaces');
  if (ifs) {
    result.interfaces = ifs.map((raw, i) => {
      const where = `interfaces[${i}]`;
      if (!isObj(raw)) throw bad(`${where} is not an object`);
      const name = str(raw, 'name', where);
      if (!name) throw bad(`${where}.name is missing`);
      const iface: CniInterface = { name };
      const mac = str(raw, 'mac', where);
      if (mac !== undefined) iface.mac = mac;
      const sandbox = str(raw, 'sandbox', where);
      if (sandbox) iface.sandbox = sandbox;
      return iface;
    });
  }
  const ips = list(value, 'ips');
  if (ips) {
    result.ips = ips.map((raw, i) => {
      const where = `ips[${i}]`;
      if (!isObj(raw)) throw bad(`${where} is not an object`);
      const address = str(raw, 'address', where, CIDR);
      if (!address) throw bad(`${where}.address is missing`);
      const ip: CniIPConfig = { address };
      const gateway = str(raw, 'gateway', where, IP);
      if (gateway) ip.gateway = gateway;
      const index = raw['interface'];
      if (index !== undefined) {
        if (typeof index !== 'number' || !Number.isInteger(index) || index < 0 || index >= (result.interfaces?.length ?? 0)) {
          throw bad(`${where}.interface ${JSON.stringify(index)} is not an index into interfaces`);
        }
        ip.interface = index;
      }
      return ip;
    });
  }
  const routes = list(value, 'routes');
  if (routes) {
    result.routes = routes.map((raw, i) => {
      const where = `routes[${i}]`;
      if (!isObj(raw)) throw bad(`${where} is not an object`);
      const dst = str(raw, 'dst', where, CIDR);
      if (!dst) throw bad(`${where}.dst is missing`);
      const route: CniRoute = { dst };
      const gw = str(raw, 'gw', where, IP);
      if (gw) route.gw = gw;
      return route;
    });
  }
  const dns = value['dns'];
  if (dns !== undefined) {
    if (!isObj(dns)) throw bad('dns is not an object');
    const out: CniDNS = {};
    const ns = strList(dns, 'nameservers', 'dns');
    if (ns) out.nameservers = ns;
    const domain = str(dns, 'domain', 'dns');
    if (domain) out.domain = domain;
    const search = strList(dns, 'search', 'dns');
    if (search) out.search = search;
    const options = strList(dns, 'options', 'dns');
    if (options) out.options = options;
    result.dns = out;
  }
  return result;
}

/** A CNI error object, or undefined when `value` is not one (then the caller reports the raw output). */
export function parseCniError(value: unknown): CniError | undefined {
  if (!isObj(value) || typeof value['code'] !== 'number' || typeof value['msg'] !== 'string') return undefined;
  const err: CniError = { code: value['code'], msg: value['msg'] };
  if (typeof value['details'] === 'string' && value['details']) err.details = value['details'];
  if (typeof value['cniVersion'] === 'string') err.cniVersion = value['cniVersion'];
  return err;
}

/** The container-side addresses (CIDR) of a result, in order. */
export function containerAddresses(result: CniResult): string[] {
  return (result.ips ?? [])
    .filter((ip) => ip.interface === undefined || result.interfaces?.[ip.interface]?.sandbox !== undefined)
    .map((ip) => ip.address);
}
