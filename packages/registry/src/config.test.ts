import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isBerthError } from '@berth/oci';
import { z } from 'zod';
import { checkConfig, loadRegistryConfig, parseRegistryConfig, registryConfigPaths } from './config.js';

/** The zod schema checkConfig replaced, kept here to hold it to the same answers and words. */
function zodSchema() {
  const httpUrl = (s: string) => {
    try {
      const u = new URL(s);
      return (u.protocol === 'http:' || u.protocol === 'https:') && (u.pathname === '/' || u.pathname === '') && !u.search && !u.hash && !u.username && !u.password;
    } catch {
      return false;
    }
  };
  const host = z.strictObject({
    mirrors: z.array(z.string().refine(httpUrl, { message: 'must be an http:// or https:// URL with no path, query or credentials' })).optional(),
    insecure: z.boolean().optional(),
    ca: z.string().min(1).optional(),
  });
  return z.looseObject({ registries: z.record(z.string().min(1), host.nullable()).nullable().optional() });
}

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'berth-registry-config-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('registry config', () => {
  it('reads mirrors, insecure and ca per host', async () => {
    const file = path.join(dir, 'ok.yaml');
    await writeFile(
      file,
      ['registries:', '  docker.io:', '    mirrors: ["http://127.0.0.1:5000", "https://mirror.example/"]', '  "myreg:5000":', '    insecure: true', '    ca: /etc/ssl/my.pem', 'other: ignored'].join('\n'),
    );
    const cfg = await loadRegistryConfig({ path: file });
    expect(cfg.registries).toEqual({
      'docker.io': { mirrors: ['http://127.0.0.1:5000', 'https://mirror.example'] },
      'myreg:5000': { insecure: true, ca: '/etc/ssl/my.pem' },
    });
  });

  it('treats index.docker.io as docker.io', () => {
    expect(parseRegistryConfig('registries: {index.docker.io: {insecure: false}}').registries).toEqual({ 'docker.io': { insecure: false } });
  });

  it('a missing file is an empty config; BERTH_CONFIG wins over the defaults', async () => {
    expect(await loadRegistryConfig({ path: path.join(dir, 'nope.yaml') })).toEqual({ registries: {} });
    expect(registryConfigPaths({ env: { BERTH_CONFIG: '/x/c.yaml', XDG_CONFIG_HOME: '/xdg' } })).toEqual(['/x/c.yaml']);
    expect(registryConfigPaths({ env: { XDG_CONFIG_HOME: '/xdg' } })).toEqual(['/etc/berth/config.yaml', '/xdg/berth/config.yaml']);
    expect(registryConfigPaths({ env: { HOME: '/home/u' } })).toEqual(['/etc/berth/config.yaml', '/home/u/.config/berth/config.yaml']);
  });

  it('an empty file is an empty config', () => {
    expect(parseRegistryConfig('')).toEqual({ registries: {} });
    expect(parseRegistryConfig('registries:\n')).toEqual({ registries: {} });
  });

  it.each([
    ['registries: {"myreg:5000": {insecure: "yes"}}', /registry config f\.yaml: registries\."myreg:5000"\.insecure: .*boolean/],
    ['registries: {docker.io: {mirrors: ["ftp://x"]}}', /registries\."docker\.io"\.mirrors\[0\]: must be an http/],
    ['registries: {docker.io: {mirror: ["http://x"]}}', /registries\."docker\.io": unknown key "mirror"/],
    ['registries: [1, 2]', /registry config f\.yaml: registries: /],
    ['registries: {a: {insecure: true}\n  b: [', /registry config f\.yaml: invalid YAML: /],
  ])('a bad file is one EINVAL_ARGUMENT line naming file and key: %s', (text, re) => {
    try {
      parseRegistryConfig(text, 'f.yaml');
      expect.unreachable();
    } catch (err) {
      expect(isBerthError(err, 'EINVAL_ARGUMENT')).toBe(true);
      expect((err as Error).message).toMatch(re);
      expect((err as Error).message).not.toContain('\n');
    }
  });

  it('checkConfig gives the first issue the zod schema gave, path and words, for good and bad documents', () => {
    const schema = zodSchema();
    const docs: unknown[] = [
      42, 'x', [1], {}, { other: 1 }, { registries: null }, { registries: [1, 2] }, { registries: 'a' }, { registries: { '': {} } },
      { registries: { a: null, b: {} } }, { registries: { a: 'x' } }, { registries: { a: { insecure: 'yes' } } }, { registries: { a: { ca: '' } } },
      { registries: { a: { ca: 1 } } }, { registries: { a: { mirrors: 'x' } } }, { registries: { a: { mirrors: [1] } } },
      { registries: { a: { mirrors: ['http://ok', 'ftp://x'] } } }, { registries: { a: { mirrors: ['http://x/path'] } } }, { registries: { a: { mirror: 1, foo: 2 } } },
      { registries: { a: { insecure: null } } }, { registries: { a: { mirrors: null } } }, { registries: { a: { insecure: 'no', mirror: 1 } } },
      { registries: { a: { insecure: true }, b: { ca: 2 } } }, { registries: { a: { mirrors: ['https://m.example'], insecure: false, ca: 'PEM' } } },
    ];
    for (const doc of docs) {
      const r = schema.safeParse(doc);
      const first = r.success ? undefined : r.error.issues[0];
      const mine = checkConfig(doc);
      expect(mine && { path: mine.path, message: mine.message }, JSON.stringify(doc)).toEqual(first && { path: first.path, message: first.message });
    }
  });

  it('a file of only comments and blank lines is an empty config; anything else goes through yaml', () => {
    expect(parseRegistryConfig('# nothing here\n\n   # indented\n')).toEqual({ registries: {} });
    expect(() => parseRegistryConfig('# c\n---\n---\nx: [', 'f.yaml')).toThrow(/invalid YAML/);
  });
});
