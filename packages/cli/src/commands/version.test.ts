import { describe, expect, it } from 'vitest';
import { berth } from '../test-support/fake-context.js';

describe('berth version and info', () => {
  it('version prints docker\'s client block (no server: no daemon), and as JSON', async () => {
    const r = await berth(['version']);
    expect([r.code, r.stderr]).toEqual([0, '']);
    expect(r.stdout).toMatch(/^Client: berth\n Version: +0\.1\.0\n Node version: +v\d+\.\d+\.\d+\n OS\/Arch: +linux\/(amd64|arm64)\n OCI runtime spec: +1\.\d+\.\d+\n$/);
    const j = JSON.parse((await berth(['version', '--format', 'json'])).stdout) as { Client: { Version: string; NodeVersion: string } };
    expect(j.Client.NodeVersion).toBe(process.version);
    expect(r.ctx.opened).toEqual([]);
  });

  it('info names the locations, counts, cgroup, kernel, defaults and the mirrors of the config', async () => {
    const { mkdtempSync, writeFileSync, rmSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const dir = mkdtempSync(join(tmpdir(), 'berth-info-'));
    try {
      writeFileSync(join(dir, 'config.yaml'), 'registries:\n  docker.io:\n    mirrors: ["http://127.0.0.1:5999"]\n');
      const r = await berth(['info'], { dir });
      expect([r.code, r.stderr]).toEqual([0, '']);
      expect(r.stdout).toContain(` Root Dir:`);
      expect(r.stdout).toMatch(new RegExp(`^ State Dir: +${join(dir, 'state')}$`, 'm'));
      expect(r.stdout).toMatch(/^ Containers: +0\n {2}Running: +0\n/m);
      expect(r.stdout).toMatch(/^ Images: +0$/m);
      expect(r.stdout).toMatch(/^ Cgroup Version: +[12]$/m);
      expect(r.stdout).toMatch(/^ Default Capabilities: +.*CHOWN/m);
      expect(r.stdout).toMatch(/ Registry Mirrors:\n {2}docker\.io: http:\/\/127\.0\.0\.1:5999\n$/);
      const j = JSON.parse((await berth(['system', 'info', '--format', 'json'], { dir })).stdout) as { RegistryMirrors: string[]; KernelVersion: string };
      expect(j.RegistryMirrors).toEqual(['docker.io: http://127.0.0.1:5999']);
      expect(j.KernelVersion).toBe((await import('node:os')).release());
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('system df on an empty root: four types, nothing used', async () => {
    const r = await berth(['system', 'df']);
    expect([r.code, r.stderr]).toEqual([0, '']);
    expect(r.stdout.split('\n')[0]).toMatch(/^TYPE {3,}TOTAL {3,}ACTIVE {3,}SIZE {3,}RECLAIMABLE$/);
    expect(r.stdout).toMatch(/^Images {3,}0 {3,}0 {3,}0B {3,}0B \(0%\)$/m);
    expect(r.stdout).toMatch(/^Build Cache {3,}0 {3,}0 {3,}0B {3,}0B \(0%\)$/m);
  });
});
