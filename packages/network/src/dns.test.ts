import { describe, expect, it } from 'vitest';
import { containerHosts, containerResolvConf, hostEtcFiles, isolatedEtcFiles, parseResolvConf, upstreamNameservers } from './dns.js';

describe('resolv.conf for a container (docker rules)', () => {
  it('drops loopback nameservers, keeps the others, search and options', () => {
    const host = parseResolvConf('# comment\nnameserver 127.0.0.53\nnameserver 10.255.255.53\nnameserver ::1\nsearch example.internal corp\noptions edns0 trust-ad\n');
    expect(host.nameservers).toEqual(['127.0.0.53', '10.255.255.53', '::1']);
    expect(containerResolvConf({ host })).toBe('search example.internal corp\nnameserver 10.255.255.53\noptions edns0 trust-ad\n');
  });

  it('uses Google DNS when the host has only loopback resolvers, and drops IPv6 ones without IPv6', () => {
    expect(upstreamNameservers(parseResolvConf('nameserver 127.0.0.1\nnameserver ::1\n'))).toEqual(['8.8.8.8', '8.8.4.4']);
    expect(upstreamNameservers(parseResolvConf('nameserver 2001:db8::1\n'))).toEqual(['8.8.8.8', '8.8.4.4']);
    expect(upstreamNameservers(parseResolvConf('nameserver 2001:db8::1\n'), { ipv6: true })).toEqual(['2001:db8::1']);
    expect(upstreamNameservers(parseResolvConf(''), { ipv6: true })).toEqual(['8.8.8.8', '8.8.4.4', '2001:4860:4860::8888', '2001:4860:4860::8844']);
  });

  it('--dns (or the embedded resolver hook) replaces the nameservers; --dns-search the search list', () => {
    const host = parseResolvConf('nameserver 10.0.0.2\nsearch a.b\n');
    expect(containerResolvConf({ host, nameservers: ['127.0.0.11'], search: ['x.y'], options: ['ndots:0'] })).toBe('search x.y\nnameserver 127.0.0.11\noptions ndots:0\n');
  });
});

describe('hosts for a container', () => {
  it('has localhost lines, extra hosts, and its own addresses with hostname, name and aliases', () => {
    const text = containerHosts({ hostname: 'abc123', addresses: ['10.88.0.5/16'], aliases: ['web', 'abc123'], extraHosts: [{ name: 'db', ip: '10.1.2.3' }] });
    const lines = text.trimEnd().split('\n');
    expect(lines[0]).toBe('127.0.0.1\tlocalhost');
    expect(lines[1]).toBe('::1\tlocalhost ip6-localhost ip6-loopback');
    expect(lines).toContain('10.1.2.3\tdb');
    expect(lines.at(-1)).toBe('10.88.0.5\tabc123 web');
  });
});

describe('isolatedEtcFiles and hostEtcFiles (the runtime files of containers without an attachment)', () => {
  it('isolated: localhost lines and the hostname on 127.0.1.1; the host nameservers without loopback ones, Google DNS when none is left', async () => {
    const { mkdtemp, writeFile, rm } = await import('node:fs/promises');
    const { tmpdir } = await import('node:os');
    const dir = await mkdtemp(`${tmpdir()}/dns-`);
    try {
      await writeFile(`${dir}/resolv.conf`, 'nameserver 127.0.0.1\nnameserver 192.0.2.53\nsearch example.test\n');
      await writeFile(`${dir}/loopback-only.conf`, 'nameserver 127.0.0.1\n');
      const f = isolatedEtcFiles({ hostname: 'c0ffee', hostResolvConf: `${dir}/resolv.conf` });
      expect(f.hosts).toContain('127.0.0.1\tlocalhost\n');
      expect(f.hosts).toContain('127.0.1.1\tc0ffee\n');
      expect(f.resolvConf).toBe('search example.test\nnameserver 192.0.2.53\n');
      expect(isolatedEtcFiles({ hostname: 'c', hostResolvConf: `${dir}/loopback-only.conf` }).resolvConf).toBe('nameserver 8.8.8.8\nnameserver 8.8.4.4\n');
      await writeFile(`${dir}/hosts`, '127.0.0.1 localhost myhost\n');
      expect(hostEtcFiles({ hostsFile: `${dir}/hosts`, resolvConfFile: `${dir}/resolv.conf` })).toEqual({
        hosts: '127.0.0.1 localhost myhost\n',
        resolvConf: 'nameserver 127.0.0.1\nnameserver 192.0.2.53\nsearch example.test\n',
      });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
