import { describe, expect, it } from 'vitest';
import { berth } from '../test-support/fake-context.js';

describe('berth login: arguments', () => {
  it('without a terminal and without a password, fails as docker (no prompt), before any registry is asked', async () => {
    const r = await berth(['login']);
    expect([r.code, r.stdout, r.stderr]).toEqual([1, '', 'berth: login docker.io: Cannot perform an interactive login from a non TTY device\n']);
    const u = await berth(['login', '-u', 'me', 'localhost:5000']);
    expect([u.code, u.stdout, u.stderr]).toEqual([1, '', 'berth: login localhost:5000: Cannot perform an interactive login from a non TTY device\n']);
    expect(u.ctx.opened).toEqual([]);
  });

  it('--password-stdin needs --username', async () => {
    const r = await berth(['login', '--password-stdin'], { stdin: 'x\n' });
    expect([r.code, r.stderr]).toEqual([1, 'berth: login docker.io: --username is required with --password-stdin\n']);
  });

  it('on a terminal asks for the username (echoed) and the password (raw mode, not echoed), then logs in', async () => {
    const raw: boolean[] = [];
    const r = await berth(['login', '127.0.0.1:1'], { stdin: 'me\nse\u007fecret\r', stdinIsTTY: true, onSetRawMode: (on) => raw.push(on) });
    // The prompts, a newline after the unechoed password, and no password on either stream.
    expect(r.stdout).toBe('Username: Password: \n');
    expect(raw).toEqual([true, false]);
    expect(r.ctx.opened).toEqual(['registry']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^berth: [^\n]*127\.0\.0\.1:1[^\n]*\n$/);
    expect(r.stderr + r.stdout).not.toContain('secret');
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
