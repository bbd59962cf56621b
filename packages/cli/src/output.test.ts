import { BerthError } from '@berth/oci';
import { describe, expect, it } from 'vitest';
import { eachName } from './output.js';
import { Capture } from './test-support/fake-context.js';

describe('eachName: a docker verb on several names', () => {
  it('runs the operation on each in order, prints the name (or the returned text; null: nothing), an error line for each failure, and exits 1 if any failed', async () => {
    const ctx = { stdout: new Capture(), stderr: new Capture() };
    const seen: string[] = [];
    const code = await eachName(ctx, ['a', 'missing', 'b', 'quiet', 'code'], async (name) => {
      seen.push(name);
      if (name === 'missing') throw new BerthError('ENOT_FOUND', `no such container: ${name}`);
      if (name === 'quiet') return null;
      if (name === 'code') return '3';
      return undefined;
    });
    expect(seen).toEqual(['a', 'missing', 'b', 'quiet', 'code']);
    expect(ctx.stdout.text).toBe('a\nb\n3\n');
    expect(ctx.stderr.text).toBe('berth: no such container: missing\n');
    expect(code).toBe(1);
  });

  it('exits 0 when every operation succeeded', async () => {
    const ctx = { stdout: new Capture(), stderr: new Capture() };
    expect(await eachName(ctx, ['x', 'y'], async () => undefined)).toBe(0);
    expect([ctx.stdout.text, ctx.stderr.text]).toEqual(['x\ny\n', '']);
  });
});
