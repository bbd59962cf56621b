import path from 'node:path';
import { sharedImagesDir } from '@berth/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { berth, tempDir, USAGE_HINT_LINE } from '../test-support/fake-context.js';

const images = sharedImagesDir();
const tmp = tempDir();
afterAll(() => tmp.remove());

describe.skipIf(!images)('berth images, image ls, inspect, tag, rmi (a store loaded from the shared alpine layout)', () => {
  beforeAll(async () => {
    const r = await berth(['load', '-q', '-i', path.join(images ?? '', 'alpine'), '--repository', 'alpine'], { dir: tmp.dir });
    expect(r.code).toBe(0);
  });

  it('--format json prints one JSON array of rows on the context stdout', async () => {
    const r = await berth(['images', '--format', 'json'], { dir: tmp.dir });
    expect([r.code, r.stderr]).toEqual([0, '']);
    const rows = JSON.parse(r.stdout) as Record<string, unknown>[];
    expect(rows.length).toBeGreaterThan(0);
    for (const row of rows) {
      expect(Object.keys(row).sort()).toEqual(['created', 'digest', 'platform', 'reference', 'repoDigest', 'repository', 'size', 'tag']);
      expect(row['repository']).toBe('alpine');
      expect(row['reference']).toBe(`docker.io/library/alpine:${row['tag'] as string}`);
      expect(row['digest']).toMatch(/^sha256:[0-9a-f]{64}$/);
      expect(row['size']).toEqual(expect.any(Number));
    }
    expect(r.stdout.endsWith('\n]\n')).toBe(true);
  });

  it('-q prints each image ID once (12 hex, --no-trunc the digest); the table has docker\'s columns', async () => {
    const json = JSON.parse((await berth(['images', '--format', 'json'], { dir: tmp.dir })).stdout) as { digest: string }[];
    const q = await berth(['images', '-q', '--no-trunc'], { dir: tmp.dir });
    expect(q.stdout).toBe([...new Set(json.map((j) => j.digest))].map((d) => `${d}\n`).join(''));
    const short = await berth(['images', '-q'], { dir: tmp.dir });
    expect(short.stdout).toBe([...new Set(json.map((j) => j.digest.slice(7, 19)))].map((d) => `${d}\n`).join(''));
    const table = await berth(['images'], { dir: tmp.dir });
    expect(table.stdout.split('\n')[0]).toMatch(/^REPOSITORY {3,}TAG {3,}IMAGE ID {3,}CREATED {3,}SIZE$/);
    const digests = await berth(['images', '--digests'], { dir: tmp.dir });
    expect(digests.stdout.split('\n')[0]).toMatch(/^REPOSITORY {3,}TAG {3,}DIGEST {3,}IMAGE ID {3,}CREATED {3,}SIZE$/);
    expect(table.stdout.split('\n')).toHaveLength(json.length + 2);
  });

  it('image ls is the same command under the image group; its help keeps its terse option list', async () => {
    const a = await berth(['images', '--format', 'json'], { dir: tmp.dir });
    const b = await berth(['image', 'ls', '--format', 'json'], { dir: tmp.dir });
    expect(b.stdout).toBe(a.stdout);
    const help = await berth(['image', 'ls', '--help'], { dir: tmp.dir });
    expect(help.stdout).toBe('Usage: berth image ls [options]\n\nList images\n\nOptions:\n  --format <format>\n  -q, --quiet\n  --digests\n  --no-trunc\n  -h, --help         display help for command\n');
  });

  it('--format takes a Go template over docker\'s fields; inspect -f renders each image', async () => {
    const json = JSON.parse((await berth(['images', '--format', 'json'], { dir: tmp.dir })).stdout) as { repository: string; tag: string; digest: string }[];
    const t = await berth(['images', '--format', '{{.Repository}}:{{.Tag}} {{.ID}}'], { dir: tmp.dir });
    expect([t.code, t.stderr]).toEqual([0, '']);
    expect(t.stdout).toBe(json.map((j) => `${j.repository}:${j.tag} ${j.digest.slice(7, 19)}\n`).join(''));
    const table = await berth(['images', '--format', 'table {{.Repository}}\\t{{.Tag}}\\t{{.ID}}'], { dir: tmp.dir });
    expect([table.code, table.stderr]).toEqual([0, '']);
    const [head, ...lines] = table.stdout.trimEnd().split('\n');
    expect(head).toBe('REPOSITORY   TAG       IMAGE ID');
    expect(lines.map((l) => l.split(/ {3,}/))).toEqual(json.map((j) => [j.repository, j.tag, j.digest.slice(7, 19)]));
    const ref = `${json[0]!.repository}:${json[0]!.tag}`;
    const i = await berth(['inspect', '-f', '{{.Id}} {{.Config.architecture}} {{json .Config.config.Cmd}} {{len .Manifest.layers}}', ref, ref], { dir: tmp.dir });
    expect([i.code, i.stderr]).toEqual([0, '']);
    expect(i.stdout).toBe(`${json[0]!.digest} amd64 ["/bin/sh"] 1\n`.repeat(2));
    const bad = await berth(['inspect', '-f', '{{range .Id}}', ref], { dir: tmp.dir });
    expect([bad.code, bad.stdout, bad.stderr]).toEqual([1, '', 'berth: template: unexpected EOF: {{range}} without {{end}}\n']);
  });

  it('a bad --format is a usage error before the store is opened', async () => {
    const r = await berth(['images', '--format', 'yaml'], { dir: tmp.dir });
    expect([r.code, r.stdout, r.stderr]).toEqual([2, '', `berth: invalid --format "yaml": expected "table" or "json"\n${USAGE_HINT_LINE}`]);
    expect(r.ctx.opened).toEqual([]);
  });

  it('inspect prints the found images as a JSON array on stdout and a line for each missing one, exit 1', async () => {
    const [first] = JSON.parse((await berth(['images', '--format', 'json'], { dir: tmp.dir })).stdout) as { reference: string; digest: string }[];
    const r = await berth(['inspect', first!.reference, 'nosuch:1'], { dir: tmp.dir });
    expect(r.code).toBe(1);
    const found = JSON.parse(r.stdout) as { Digest: string; Manifest: unknown; Config: unknown }[];
    expect(found.map((f) => f.Digest)).toEqual([first!.digest]);
    expect(r.stderr).toMatch(/^berth: [^\n]*nosuch[^\n]*\n$/);
  });

  it('tag adds a name that images lists, rmi removes it and prints what it untagged', async () => {
    const [first] = JSON.parse((await berth(['images', '--format', 'json'], { dir: tmp.dir })).stdout) as { reference: string }[];
    const t = await berth(['tag', first!.reference, 'mine:1'], { dir: tmp.dir });
    expect([t.code, t.stdout, t.stderr]).toEqual([0, '', '']);
    expect((await berth(['images'], { dir: tmp.dir })).stdout).toMatch(/^mine {3,}1 /m);
    const rmi = await berth(['rmi', 'mine:1'], { dir: tmp.dir });
    expect([rmi.code, rmi.stderr]).toEqual([0, '']);
    // What no tag uses any more goes too (here the layout's index blob), one "Deleted:" line each.
    expect(rmi.stdout).toMatch(/^Untagged: mine:1\n(Deleted: sha256:[0-9a-f]{64}\n)*$/);
    expect((await berth(['images', '--format', 'json'], { dir: tmp.dir })).stdout).toContain(`"reference": "${first!.reference}"`);
    expect((await berth(['tag', first!.reference], { dir: tmp.dir })).code).toBe(2);
  });
});
