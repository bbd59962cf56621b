import { createServer, type Server } from 'node:net';
import { describe, expect, it } from 'vitest';
import { isBerthError } from '@berth/oci';
import { parsePublishSpec, publishAllSpecs, resolvePortMappings, hostPortFree } from './ports.js';

describe('parsePublishSpec', () => {
  it('reads every docker form', () => {
    expect(parsePublishSpec('80')).toEqual({ hostIP: '', hostPortStart: 0, hostPortEnd: 0, containerPortStart: 80, containerPortEnd: 80, protocol: 'tcp' });
    expect(parsePublishSpec('8080:80')).toMatchObject({ hostIP: '', hostPortStart: 8080, hostPortEnd: 8080, containerPortStart: 80 });
    expect(parsePublishSpec('127.0.0.1:8080:80/udp')).toMatchObject({ hostIP: '127.0.0.1', hostPortStart: 8080, containerPortStart: 80, protocol: 'udp' });
    expect(parsePublishSpec('127.0.0.1::80')).toMatchObject({ hostIP: '127.0.0.1', hostPortStart: 0, containerPortStart: 80 });
    expect(parsePublishSpec('[::1]:8080:80')).toMatchObject({ hostIP: '::1', hostPortStart: 8080, containerPortStart: 80 });
    expect(parsePublishSpec('8000-8001:80-81/TCP')).toMatchObject({ hostPortStart: 8000, hostPortEnd: 8001, containerPortStart: 80, containerPortEnd: 81 });
    expect(parsePublishSpec('8000-8010:80')).toMatchObject({ hostPortStart: 8000, hostPortEnd: 8010, containerPortStart: 80, containerPortEnd: 80 });
    expect(parsePublishSpec('0.0.0.0:80:80')).toMatchObject({ hostIP: '' });
  });

  it.each([
    ['', 'container port'],
    ['80/sctpx', 'protocol'],
    ['0', 'outside 1-65535'],
    ['70000', 'outside 1-65535'],
    ['81-80', 'ends before it starts'],
    ['8000-8002:80-81', 'differ in length'],
    ['host:80:80', 'not an IPv4 address'],
    ['1:2:3:4', 'too many colons'],
    ['[::1]80', 'IPv6'],
    ['abc', 'not a port'],
  ])('refuses %j naming what is wrong', (spec, why) => {
    let err: unknown;
    try {
      parsePublishSpec(spec);
    } catch (e) {
      err = e;
    }
    expect(isBerthError(err, 'EINVAL_ARGUMENT')).toBe(true);
    expect((err as Error).message).toContain(why);
    expect((err as Error).message).not.toContain('\n');
  });
});

describe('publishAllSpecs (-P)', () => {
  it('publishes each exposed port on a free host port', () => {
    expect(publishAllSpecs({ '80/tcp': {}, '53/udp': {}, '9000': {} })).toEqual([
      { hostIP: '', hostPortStart: 0, hostPortEnd: 0, containerPortStart: 53, containerPortEnd: 53, protocol: 'udp' },
      { hostIP: '', hostPortStart: 0, hostPortEnd: 0, containerPortStart: 80, containerPortEnd: 80, protocol: 'tcp' },
      { hostIP: '', hostPortStart: 0, hostPortEnd: 0, containerPortStart: 9000, containerPortEnd: 9000, protocol: 'tcp' },
    ]);
    expect(() => publishAllSpecs({ 'http/tcp': {} })).toThrow(/not PORT/);
  });
});

async function listen(host: string): Promise<{ server: Server; port: number }> {
  const server = createServer();
  await new Promise<void>((r) => server.listen({ host, port: 0 }, r));
  const addr = server.address();
  return { server, port: typeof addr === 'object' && addr ? addr.port : 0 };
}

describe('resolvePortMappings', () => {
  it('refuses a host port something on the host listens on, before anything starts', async () => {
    const { server, port } = await listen('127.0.0.1');
    try {
      expect(await hostPortFree({ hostIP: '127.0.0.1', hostPort: port, protocol: 'tcp' })).toBe(false);
      await expect(resolvePortMappings([parsePublishSpec(`127.0.0.1:${port}:80`)])).rejects.toThrow(`127.0.0.1:${port}/tcp is already in use on the host`);
      // All addresses (0.0.0.0) include the one bound.
      await expect(resolvePortMappings([parsePublishSpec(`${port}:80`)])).rejects.toMatchObject({ code: 'ENETWORK_CONFLICT' });
    } finally {
      server.close();
    }
  });

  it('refuses a host port another container publishes (portmap binds nothing) and one asked for twice', async () => {
    const isFree = async (): Promise<boolean> => true;
    await expect(resolvePortMappings([parsePublishSpec('8080:80')], { isFree, inUse: [{ hostPort: 8080, containerPort: 81, protocol: 'tcp' }] })).rejects.toThrow('0.0.0.0:8080/tcp is already published by another container');
    await expect(resolvePortMappings([parsePublishSpec('127.0.0.1:8080:80')], { isFree, inUse: [{ hostPort: 8080, containerPort: 81, protocol: 'tcp' }] })).rejects.toThrow(/published by another container/);
    await expect(resolvePortMappings([parsePublishSpec('8080:80'), parsePublishSpec('8080:81')], { isFree })).rejects.toThrow(/published twice/);
    // udp and tcp, or two different addresses, do not clash.
    expect(await resolvePortMappings([parsePublishSpec('8080:80'), parsePublishSpec('8080:80/udp')], { isFree })).toHaveLength(2);
    expect(await resolvePortMappings([parsePublishSpec('127.0.0.1:8080:80'), parsePublishSpec('127.0.0.2:8080:80')], { isFree })).toHaveLength(2);
  });

  it('maps ranges one to one, picks one free port of a host range, and free ports for unspecified ones', async () => {
    const busy = new Set([9001]);
    const isFree = async (m: { hostPort: number }): Promise<boolean> => !busy.has(m.hostPort);
    expect(await resolvePortMappings([parsePublishSpec('7000-7001:80-81/udp')], { isFree })).toEqual([
      { hostPort: 7000, containerPort: 80, protocol: 'udp' },
      { hostPort: 7001, containerPort: 81, protocol: 'udp' },
    ]);
    expect(await resolvePortMappings([parsePublishSpec('9001-9003:80')], { isFree })).toEqual([{ hostPort: 9002, containerPort: 80, protocol: 'tcp' }]);
    await expect(resolvePortMappings([parsePublishSpec('9001-9001:80')], { isFree })).rejects.toThrow(/already in use/);
    const any = await resolvePortMappings([parsePublishSpec('127.0.0.1::80-81')]);
    expect(any).toHaveLength(2);
    for (const m of any) expect(m.hostPort).toBeGreaterThan(0);
    expect(any[0]?.hostPort).not.toBe(any[1]?.hostPort);
  });
});
