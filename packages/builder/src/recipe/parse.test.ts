import { describe, expect, it } from 'vitest';
import { isBerthError } from '@berth/oci';
import { REFERENCE_RECIPE } from '../test-support/recipes.js';
import { parseRecipe } from './parse.js';

function err(text: string): string {
  try {
    parseRecipe(text, { file: 'berth.yaml' });
  } catch (e) {
    expect(isBerthError(e, 'ERECIPE')).toBe(true);
    return (e as Error).message;
  }
  throw new Error('expected the recipe to be refused');
}

describe('parseRecipe', () => {
  it('parses every step type of the reference recipe with locations', () => {
    const r = parseRecipe(REFERENCE_RECIPE);
    expect(r.final.from).toBe('alpine:3.20');
    expect(r.args).toEqual({ VERSION: '1.0' });
    expect(r.entrypoint).toEqual(['/srv/app/start.sh']);
    expect(r.cmd).toEqual(['--port', '8080']);
    const [run, copy, env, workdir, user, label, expose] = r.final.steps;
    expect(run).toMatchObject({ kind: 'run', command: 'echo "$VERSION" > /version', path: 'steps[0].run', location: { file: 'berth.yaml', line: 4, column: 10 } });
    expect(copy).toMatchObject({ kind: 'copy', src: ['app/', 'config.yml'], dest: '/srv/', chown: '1000:1000', chmod: '0644', location: { line: 5 } });
    expect(env).toMatchObject({ kind: 'env', env: { PORT: '8080' } });
    expect(workdir).toMatchObject({ kind: 'workdir', workdir: '/srv' });
    expect(user).toMatchObject({ kind: 'user', user: '1000' });
    expect(label).toMatchObject({ kind: 'label', labels: { 'org.opencontainers.image.title': 'demo' } });
    expect(expose).toMatchObject({ kind: 'expose', ports: ['8080/tcp'] });
  });

  it('names file, line, column and path of a bad value', () => {
    const text = `from: alpine
steps:
  - run: "true"
  - run: echo
  - copy:
      dest: /x
      src: 3
`;
    expect(err(text)).toBe('berth.yaml:7:12: steps[2].copy.src: expected a string or a list');
  });

  it('refuses unknown keys at every level, pointing at the key', () => {
    expect(err('from: a\nfrm: b\n')).toBe('berth.yaml:2:1: frm: unknown key');
    expect(err('from: a\nsteps:\n  - run: x\n    shell: bash\n')).toBe('berth.yaml:4:5: steps[0].shell: unknown key');
    expect(err('from: a\nsteps:\n  - copy: {src: a, dest: b, mode: 1}\n')).toBe('berth.yaml:3:29: steps[0].copy.mode: unknown key');
  });

  it('explains unknown steps, missing fields and wrong types', () => {
    expect(err('from: a\nsteps:\n  - run: true\n')).toBe('berth.yaml:3:10: steps[0].run: expected a string or a list');
    expect(err('from: a\nsteps:\n  - frobnicate: x\n')).toMatch(/^berth\.yaml:3:5: steps\[0\]: unknown step "frobnicate": expected one of run, copy, env/);
    expect(err('steps: []\n')).toBe('berth.yaml:1:1: from: required');
    expect(err('from: a\nsteps:\n  - copy: {src: a}\n')).toBe('berth.yaml:3:11: steps[0].copy.dest: required');
    expect(err('from: a\nsteps: {run: x}\n')).toBe('berth.yaml:2:8: steps: expected a list of steps');
    expect(err('from: a\nsteps:\n  - copy: {src: a, dest: b, chmod: 0644}\n')).toBe('berth.yaml:3:36: steps[0].copy.chmod: expected an octal mode string like "0644"');
    expect(err('from: a\nsteps:\n  - expose: [http]\n')).toBe('berth.yaml:3:14: steps[0].expose[0]: expected PORT or PORT/tcp|udp|sctp');
    expect(err('from: a\nargs: {1BAD: x}\n')).toMatch(/^berth\.yaml:2:\d+: args/);
    expect(err('from: 3\n')).toMatch(/^berth\.yaml:1:7: from: expected an image reference/);
  });

  it('checks uids, gids and ports at parse time, where they are written (not as JavaScript integer limits)', () => {
    expect(err('from: a\nsteps:\n  - user: "99999999999999999999"\n')).toBe('berth.yaml:3:11: steps[0].user: a uid or gid must be from 0 to 2147483647');
    expect(err('from: a\nsteps:\n  - user: 99999999999999999999\n')).toBe('berth.yaml:3:11: steps[0].user: a uid or gid must be from 0 to 2147483647');
    expect(err('from: a\nsteps:\n  - user: "app:4294967296"\n')).toBe('berth.yaml:3:11: steps[0].user: a uid or gid must be from 0 to 2147483647');
    expect(err('from: a\nsteps:\n  - copy: {src: a, dest: b, chown: 99999999999999999999}\n')).toBe('berth.yaml:3:36: steps[0].copy.chown: a uid or gid must be from 0 to 2147483647');
    expect(err('from: a\nsteps:\n  - expose: [99999999999999999999]\n')).toBe('berth.yaml:3:14: steps[0].expose[0]: a port must be from 1 to 65535');
    expect(err('from: a\nsteps:\n  - expose: ["99999/udp"]\n')).toBe('berth.yaml:3:14: steps[0].expose[0]: a port must be from 1 to 65535');
    expect(err('from: a\nsteps:\n  - expose: 0\n')).toBe('berth.yaml:3:13: steps[0].expose: a port must be from 1 to 65535');
    const ok = parseRecipe('from: a\nsteps:\n  - user: "2147483647:app"\n  - expose: [65535, "1/udp"]\n', { file: 'berth.yaml' });
    expect(ok.final.steps).toMatchObject([{ kind: 'user', user: '2147483647:app' }, { kind: 'expose', ports: ['65535/tcp', '1/udp'] }]);
  });

  it('reports YAML syntax errors and duplicate keys with a position', () => {
    expect(err('from: a\nfrom: b\n')).toMatch(/^berth\.yaml:2:1: Map keys must be unique/);
    expect(err('from: [a\n')).toMatch(/^berth\.yaml:\d+:\d+: /);
    expect(err('')).toBe('berth.yaml:1:1: the recipe is empty');
    expect(err('- a\n- b\n')).toMatch(/^berth\.yaml:1:1: expected a map/);
  });

  it('orders stages by dependency and checks stage references', () => {
    const r = parseRecipe(`from: scratch
stages:
  final-deps:
    from: base
    steps:
      - copy: {from: tools, src: /x, dest: /x}
  base:
    from: alpine
  tools:
    from: busybox
steps:
  - copy: {from: final-deps, src: /x, dest: /x}
`);
    expect(r.stages.map((s) => s.name)).toEqual(['base', 'tools', 'final-deps']);
    expect(r.final.steps[0]).toMatchObject({ kind: 'copy', from: 'final-deps', path: 'steps[0].copy' });
    expect(r.stages[2]?.steps[0]?.path).toBe('stages.final-deps.steps[0].copy');
    expect(err('from: a\nsteps:\n  - copy: {from: nope, src: x, dest: y}\n')).toBe('berth.yaml:3:18: steps[0].copy.from: no stage named "nope"');
    expect(err('from: a\nstages:\n  x: {from: y}\n  y: {from: x}\n')).toMatch(/depends on itself/);
  });

  it('turns string entrypoint/cmd into the shell form and run argv lists stay lists', () => {
    const r = parseRecipe('from: a\nentrypoint: exec app\ncmd: []\nsteps:\n  - run: [ls, -l]\n    env: {A: 1}\n');
    expect(r.entrypoint).toEqual(['/bin/sh', '-c', 'exec app']);
    expect(r.cmd).toEqual([]);
    expect(r.final.steps[0]).toMatchObject({ kind: 'run', command: ['ls', '-l'], env: { A: '1' } });
  });
});
