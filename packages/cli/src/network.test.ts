import { describe, expect, it } from 'vitest';
import { dockerNetworkSettings, formatPorts, parseNetworkChoice, planNetwork, runtimeNetworkMode } from './network.js';

describe('--network and the network flags of run', () => {
  it('parses docker modes: bridge by default, default = bridge, none, host, container:NAME, a network name', () => {
    expect(parseNetworkChoice(undefined)).toEqual({ kind: 'network', name: 'bridge' });
    expect(parseNetworkChoice('default')).toEqual({ kind: 'network', name: 'bridge' });
    expect(parseNetworkChoice('none')).toEqual({ kind: 'none' });
    expect(parseNetworkChoice('host')).toEqual({ kind: 'host' });
    expect(parseNetworkChoice('container:web')).toEqual({ kind: 'container', container: 'web' });
    expect(parseNetworkChoice('backend')).toEqual({ kind: 'network', name: 'backend' });
    expect(() => parseNetworkChoice('container:')).toThrow('invalid --network "container:": container: needs a container name or id');
    // Only host reaches the runtime as the host's namespace; every other mode is a namespace of its own.
    expect(['none', 'host', 'container:x', 'bridge'].map((n) => runtimeNetworkMode(parseNetworkChoice(n)))).toEqual(['none', 'host', 'none', 'none']);
  });

  it('plans -p, --dns, --add-host and aliases; refuses what berth does not do, in one line naming the flag', async () => {
    const plan = await planNetwork({ network: 'backend', publish: ['127.0.0.1:8080:80', '53/udp'], dns: ['192.0.2.1'], addHost: ['db:10.1.2.3', 'v6:[::1]'], networkAlias: ['api'] });
    expect(plan.publish).toEqual([
      { hostIP: '127.0.0.1', hostPortStart: 8080, hostPortEnd: 8080, containerPortStart: 80, containerPortEnd: 80, protocol: 'tcp' },
      { hostIP: '', hostPortStart: 0, hostPortEnd: 0, containerPortStart: 53, containerPortEnd: 53, protocol: 'udp' },
    ]);
    expect(plan.extraHosts).toEqual([
      { name: 'db', ip: '10.1.2.3' },
      { name: 'v6', ip: '::1' },
    ]);
    expect(plan.aliases).toEqual(['api']);
    await expect(planNetwork({ dns: ['resolver.example'] })).rejects.toThrow('invalid --dns "resolver.example": not an IP address');
    expect(await planNetwork({ macAddress: '02:42:AC:11:00:02', network: 'back', ip: '10.9.0.7' })).toMatchObject({ mac: '02:42:AC:11:00:02', ip: '10.9.0.7' });
    await expect(planNetwork({ macAddress: '02:42:ac:11:00:02', network: 'host' })).rejects.toThrow('invalid --mac-address "02:42:ac:11:00:02": --network host has no interface of berth\'s');
    await expect(planNetwork({ ip: '10.88.0.9' })).rejects.toThrow('a chosen address needs a user-defined network (--network NAME)');
    await expect(planNetwork({ network: 'none', publishAll: true })).rejects.toThrow('-P/--publish-all needs a bridge network: --network none has no ports to publish');
    await expect(planNetwork({ network: 'container:web', publish: ['80'] })).rejects.toThrow(/^-p\/--publish needs a bridge network/);
  });
});

describe('ports and addresses as docker shows them', () => {
  const ports = [
    { hostPort: 8080, containerPort: 80, protocol: 'tcp' as const, hostIP: '' },
    { hostPort: 5353, containerPort: 53, protocol: 'udp' as const, hostIP: '127.0.0.1' },
  ];
  it('ps PORTS: 0.0.0.0 for all addresses, a comma between mappings', () => {
    expect(formatPorts(ports)).toBe('0.0.0.0:8080->80/tcp, 127.0.0.1:5353->53/udp');
    expect(formatPorts([])).toBe('');
  });
  it('inspect NetworkSettings: Ports by container port, Networks by name, the first network as IPAddress/Gateway', () => {
    const s = dockerNetworkSettings({
      networks: { bridge: { ifName: 'eth0', addresses: ['10.88.0.5/16'], gateway: '10.88.0.1', macAddress: '02:00:00:00:00:05', netns: '/run/berth/netns/c' } },
      ports,
    });
    expect(s).toEqual({
      SandboxKey: '/run/berth/netns/c',
      Ports: { '80/tcp': [{ HostIp: '0.0.0.0', HostPort: '8080' }], '53/udp': [{ HostIp: '127.0.0.1', HostPort: '5353' }] },
      IPAddress: '10.88.0.5',
      Gateway: '10.88.0.1',
      Networks: { bridge: { IPAddress: '10.88.0.5', IPPrefixLen: 16, Gateway: '10.88.0.1', MacAddress: '02:00:00:00:00:05', InterfaceName: 'eth0' } },
    });
  });
});
