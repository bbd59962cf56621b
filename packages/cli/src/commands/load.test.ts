import path from 'node:path';
import { sharedImagesDir } from '@berth/testing';
import { afterAll, describe, expect, it } from 'vitest';
import { berth, tempDir } from '../test-support/fake-context.js';

const images = sharedImagesDir();
const tmp = tempDir();
afterAll(() => tmp.remove());

describe.skipIf(!images)('berth load', () => {
  it('loads an OCI layout and names each image on stdout; -q prints nothing', async () => {
    const layout = path.join(images ?? '', 'alpine');
    const r = await berth(['load', '-i', layout, '--repository', 'alpine'], { dir: tmp.dir });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^(Loaded image: alpine:\S+\n)+$/);
    const q = await berth(['load', '-q', '-i', layout, '--repository', 'alpine'], { dir: tmp.dir });
    expect([q.code, q.stdout, q.stderr]).toEqual([0, '', '']);
  });

  it('reads the archive from the context\'s stdin without -i', async () => {
    const r = await berth(['load'], { dir: tmp.dir, stdin: 'not an archive' });
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/^berth: .+\n$/);
  });

  it('rejects a malformed --platform as a usage error before opening the store', async () => {
    const r = await berth(['load', '--platform', 'linux/', '-i', 'x'], { dir: tmp.dir });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^berth: .*platform.*\n\(run "berth --help" for usage\)\n$/);
    expect(r.ctx.opened).toEqual([]);
  });
});
