import { describe, expect, it } from 'vitest';
import { formatSubnet, parseIpRouteJson, parseProcNetRoute, parseSubnet, pickSubnet, subnetsOverlap } from './subnet.js';

describe('subnets', () => {
  it('parses CIDRs and refuses host bits and junk', () => {
    expect(formatSubnet(parseSubnet('10.88.0.0/16'))).toBe('10.88.0.0/16');
    expect(() => parseSubnet('10.88.0.1/16')).toThrow('host bits are set (the network address is 10.88.0.0/16)');
    expect(() => parseSubnet('10.88.0.0')).toThrow(/not an IPv4 CIDR/);
    expect(() => parseSubnet('300.1.0.0/16')).toThrow(/not an IPv4 CIDR/);
  });

  it('finds overlaps either way round', () => {
    expect(subnetsOverlap(parseSubnet('10.88.0.0/16'), parseSubnet('10.88.5.0/24'))).toBe(true);
    expect(subnetsOverlap(parseSubnet('10.88.5.0/24'), parseSubnet('10.88.0.0/16'))).toBe(true);
    expect(subnetsOverlap(parseSubnet('10.88.0.0/16'), parseSubnet('10.89.0.0/16'))).toBe(false);
  });

  it('picks the first pool subnet that collides with nothing', () => {
    const taken = [parseSubnet('10.88.0.0/16'), parseSubnet('10.89.3.0/24')];
    expect(formatSubnet(pickSubnet(taken))).toBe('10.90.0.0/16');
    expect(() => pickSubnet([parseSubnet('10.0.0.0/8')])).toThrow(/give one with --subnet/);
  });

  it('reads the host routes from /proc/net/route and ip -j route', () => {
    const proc = 'Iface\tDestination\tGateway\tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\neth0\t00000000\t010200C0\t0003\t0\t0\t0\t00000000\t0\t0\t0\neth0\t000200C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n';
    expect(parseProcNetRoute(proc).map(formatSubnet)).toEqual(['0.0.0.0/0', '192.0.2.0/24']);
    expect(parseIpRouteJson('[{"dst":"default"},{"dst":"10.88.0.0/16"},{"dst":"127.0.0.1","table":"local"}]').map(formatSubnet)).toEqual(['10.88.0.0/16', '127.0.0.1/32']);
  });
});
