import { describe, expect, it } from 'vitest';
import { parseRecipe } from './recipe/parse.js';
import { StageArgs, neededStages, planStages, stageVars } from './stages.js';

const order = (text: string): Array<[string, boolean]> => planStages(parseRecipe(text)).map((p) => [p.stage.name ?? '(final)', p.skip]);

describe('the stage graph', () => {
  it('builds each stage after the stages it starts from or copies from, the final stage last', () => {
    // Declared in the reverse of their dependency order: c needs b (copy.from), b needs a (from).
    const text = `stages:
  c: {from: b, steps: [{copy: {from: b, src: /x, dest: /y}}]}
  b: {from: a}
  a: {from: scratch}
from: alpine:3.20
steps:
  - copy: {from: c, src: /y, dest: /z}
`;
    expect(order(text)).toEqual([
      ['a', false],
      ['b', false],
      ['c', false],
      ['(final)', false],
    ]);
  });

  it('skips a stage the final stage does not need, directly or through other stages, and keeps the ones it needs through copy.from', () => {
    const text = `stages:
  tools: {from: alpine:3.20}
  build: {from: alpine:3.20, steps: [{copy: {from: tools, src: /bin/x, dest: /x}}]}
  docs: {from: build}
from: scratch
steps:
  - copy: {from: build, src: /x, dest: /x}
`;
    const recipe = parseRecipe(text);
    expect([...neededStages(recipe)].sort()).toEqual(['build', 'tools']);
    expect(order(text)).toEqual([
      ['tools', false],
      ['build', false],
      ['docs', true],
      ['(final)', false],
    ]);
  });

  it('a recipe without stages plans only its final stage; a final stage starting from an image needs no stage named like a registry host', () => {
    expect(order('from: alpine:3.20\n')).toEqual([['(final)', false]]);
    expect(order('stages:\n  alpine: {from: scratch}\nfrom: docker.io/library/alpine:3.20\n')).toEqual([
      ['alpine', true],
      ['(final)', false],
    ]);
  });
});

describe('stage args', () => {
  it('a build arg replaces the recipe and stage defaults of its name; undeclared build args are reported unused', () => {
    const recipe = parseRecipe(`args: {A: "1", B: "2"}
stages:
  s: {from: scratch, args: {C: "3"}}
from: s
`);
    const args = new StageArgs(recipe.args, { C: 'c', Z: 'z', A: 'a' });
    const s = recipe.stages[0];
    if (!s) throw new Error('no stage');
    expect([...args.forStage(recipe.final)]).toEqual([
      ['A', 'a'],
      ['B', '2'],
    ]);
    expect(args.unused()).toEqual(['C', 'Z']);
    expect([...args.forStage(s)]).toEqual([
      ['A', 'a'],
      ['B', '2'],
      ['C', 'c'],
    ]);
    expect(args.unused()).toEqual(['Z']);
  });

  it('step variables: the config env over the args', () => {
    const vars = stageVars({ args: new Map([['A', 'arg'], ['B', 'arg']]), config: { Env: ['A=env', 'PATH=/bin', 'BROKEN'] } });
    expect(Object.fromEntries(vars)).toEqual({ A: 'env', B: 'arg', PATH: '/bin' });
  });
});
