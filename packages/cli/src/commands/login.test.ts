import { describe, expect, it } from 'vitest';
import { berth } from '../testing/fake-context.js';

describe('berth login: arguments', () => {
  it('needs --username', async () => {
    const r = await berth(['login']);
    expect([r.code, r.stdout, r.stderr]).toEqual([1, '', 'berth: login docker.io: --username is required\n']);
  });

  it('--password and --password-stdin are exclusive', async () => {
    const r = await berth(['login', '-u', 'me', '-p', 'x', '--password-stdin', 'localhost:5000']);
    expect([r.code, r.stderr]).toEqual([1, 'berth: login: --password and --password-stdin are mutually exclusive\n']);
  });

  it('--password-stdin reads the context stdin: empty is no password, before any registry is asked', async () => {
    const r = await berth(['login', '-u', 'me', '--password-stdin', 'localhost:5000'], { stdin: '\n' });
    expect([r.code, r.stderr]).toEqual([1, 'berth: login localhost:5000: a password is required (--password-stdin)\n']);
    expect(r.ctx.opened).toEqual([]);
  });
});
