import { describe, expect, it } from 'vitest';
import { applyChange } from '../actions/commit.js';

describe('commit --change: a subset of Dockerfile instructions on the config', () => {
  it('CMD/ENTRYPOINT in JSON or shell form, ENV (replacing), WORKDIR, USER, LABEL, EXPOSE', () => {
    const c: Parameters<typeof applyChange>[0] = { Env: ['PATH=/bin', 'A=1'] };
    for (const ch of ['CMD ["cat", "/x"]', 'ENTRYPOINT echo hi', 'ENV A=2', 'ENV B two words', 'WORKDIR /srv', 'USER nobody', 'LABEL k="v 1"', 'EXPOSE 80 53/udp']) applyChange(c, ch);
    expect(c).toEqual({
      Env: ['PATH=/bin', 'A=2', 'B=two words'],
      Cmd: ['cat', '/x'],
      Entrypoint: ['/bin/sh', '-c', 'echo hi'],
      WorkingDir: '/srv',
      User: 'nobody',
      Labels: { k: 'v 1' },
      ExposedPorts: { '80/tcp': {}, '53/udp': {} },
    });
  });

  it('refuses what it does not support or cannot parse: a usage error naming the change', () => {
    expect(() => applyChange({}, 'RUN ls')).toThrow('invalid --change "RUN ls": RUN is not supported');
    expect(() => applyChange({}, 'CMD ["a", 1]')).toThrow('invalid --change "CMD [\\"a\\", 1]": expected a JSON array of strings');
    expect(() => applyChange({}, 'EXPOSE 99999999')).toThrow('bad port 99999999');
    expect(() => applyChange({}, 'CMD')).toThrow('expected an instruction and its argument');
  });
});
