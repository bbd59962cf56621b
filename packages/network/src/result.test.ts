import { describe, expect, it } from 'vitest';
import { containerAddresses, parseCniError, parseCniResult } from './result.js';

const good = {
  cniVersion: '1.0.0',
  interfaces: [{ name: 'br0', mac: 'aa:bb' }, { name: 'veth1', mac: 'cc:dd' }, { name: 'eth0', mac: 'ee:ff', sandbox: '/run/netns/x' }],
  ips: [{ address: '10.1.0.2/24', gateway: '10.1.0.1', interface: 2 }],
  routes: [{ dst: '0.0.0.0/0' }],
  dns: {},
  extra: 'dropped',
};

describe('parseCniResult', () => {
  it('keeps the fields of a 1.0.0 result and finds the container addresses', () => {
    const r = parseCniResult(good);
    expect(r).toEqual({ cniVersion: '1.0.0', interfaces: good.interfaces, ips: good.ips, routes: good.routes, dns: {} });
    expect(containerAddresses(r)).toEqual(['10.1.0.2/24']);
  });

  it.each([
    ['not an object', [], 'not a JSON object'],
    ['no version', { ips: [] }, 'cniVersion is missing'],
    ['a bad address', { ...good, ips: [{ address: '10.1.0.2' }] }, 'ips[0].address'],
    ['an interface index out of range', { ...good, ips: [{ address: '10.1.0.2/24', interface: 3 }] }, 'not an index into interfaces'],
    ['a route without dst', { ...good, routes: [{ gw: '10.1.0.1' }] }, 'routes[0].dst is missing'],
    ['interfaces not a list', { ...good, interfaces: {} }, 'interfaces is not a list'],
  ])('refuses %s', (_what, value, message) => {
    expect(() => parseCniResult(value)).toThrow(message);
  });
});

describe('parseCniError', () => {
  it('reads code, msg and details; anything else is not an error object', () => {
    expect(parseCniError({ cniVersion: '1.0.0', code: 7, msg: 'bad', details: 'why' })).toEqual({ cniVersion: '1.0.0', code: 7, msg: 'bad', details: 'why' });
    expect(parseCniError({ msg: 'no code' })).toBeUndefined();
  });
});
