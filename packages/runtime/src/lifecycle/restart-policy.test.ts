import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { RuntimeContext } from './context.js';
import { FIRST_DELAY_MS, MAX_DELAY_MS, RestartManager, backoff, clearManualStop, markManualStop, manualStopRequested, formatRestartPolicy, parseRestartPolicy } from './restart-policy.js';
import { StateStore } from './state.js';
import type { ContainerState } from './state.js';

describe('parseRestartPolicy (docker\'s --restart)', () => {
  it('names and on-failure\'s retry count', () => {
    expect(parseRestartPolicy('no')).toEqual({ Name: 'no', MaximumRetryCount: 0 });
    expect(parseRestartPolicy('always')).toEqual({ Name: 'always', MaximumRetryCount: 0 });
    expect(parseRestartPolicy('unless-stopped')).toEqual({ Name: 'unless-stopped', MaximumRetryCount: 0 });
    expect(parseRestartPolicy('on-failure')).toEqual({ Name: 'on-failure', MaximumRetryCount: 0 });
    expect(parseRestartPolicy('on-failure:5')).toEqual({ Name: 'on-failure', MaximumRetryCount: 5 });
  });

  it('docker\'s errors', () => {
    expect(() => parseRestartPolicy('sometimes')).toThrow("invalid restart policy: unknown policy 'sometimes'; use one of 'no', 'always', 'on-failure', or 'unless-stopped'");
    expect(() => parseRestartPolicy('always:3')).toThrow("invalid restart policy: maximum retry count can only be used with 'on-failure'");
    expect(() => parseRestartPolicy('on-failure:-1')).toThrow('invalid restart policy: maximum retry count cannot be negative');
    expect(() => parseRestartPolicy('on-failure:x')).toThrow('invalid restart policy format: maximum retry count must be an integer');
    expect(() => parseRestartPolicy(':3')).toThrow('invalid restart policy format: no policy provided before colon');
  });

  it('formatRestartPolicy spells a policy back as --restart takes it', () => {
    for (const text of ['no', 'always', 'unless-stopped', 'on-failure', 'on-failure:5']) expect(formatRestartPolicy(parseRestartPolicy(text))).toBe(text);
  });
});

describe('RestartManager (docker\'s restartmanager)', () => {
  const end = (exitCode: number, ranMs = 50, manuallyStopped = false) => ({ exitCode, ranMs, manuallyStopped });

  it('always: 100 ms doubling up to a minute, counted; a run of 10 s starts the backoff over', () => {
    const m = new RestartManager(parseRestartPolicy('always'));
    const delays = Array.from({ length: 12 }, () => m.shouldRestart(end(0)));
    expect(delays).toEqual([100, 200, 400, 800, 1600, 3200, 6400, 12800, 25600, 51200, MAX_DELAY_MS, MAX_DELAY_MS]);
    expect(m.restartCount).toBe(12);
    expect(m.shouldRestart(end(1, 10_000))).toBe(FIRST_DELAY_MS);
    expect(m.shouldRestart(end(1, 9_999))).toBe(2 * FIRST_DELAY_MS);
  });

  it('on-failure[:N]: only after a non-zero exit, at most N restarts (0: no limit)', () => {
    const m = new RestartManager(parseRestartPolicy('on-failure:2'));
    expect(m.shouldRestart(end(0))).toBeUndefined();
    expect(m.shouldRestart(end(3))).toBeDefined();
    expect(m.shouldRestart(end(3))).toBeDefined();
    expect(m.shouldRestart(end(3))).toBeUndefined();
    expect(m.restartCount).toBe(2);
    const unlimited = new RestartManager(parseRestartPolicy('on-failure'), { restartCount: 40 });
    expect(unlimited.shouldRestart(end(1))).toBeDefined();
    expect(unlimited.restartCount).toBe(41);
  });

  it('no never restarts; a user\'s stop ends every policy', () => {
    expect(new RestartManager(parseRestartPolicy('no')).shouldRestart(end(1))).toBeUndefined();
    for (const p of ['always', 'unless-stopped', 'on-failure']) {
      const m = new RestartManager(parseRestartPolicy(p));
      expect(m.shouldRestart(end(137, 50, true))).toBeUndefined();
      expect(m.restartCount).toBe(0);
    }
  });
});

describe('backoff and the user\'s stop mark', () => {
  let dir: string | undefined;
  afterEach(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
    dir = undefined;
  });
  const id = 'a'.repeat(64);
  const setup = (): RuntimeContext => {
    dir = mkdtempSync(path.join(tmpdir(), 'berth-restart-'));
    const store = new StateStore(dir);
    store.ensureRoot();
    mkdirSync(store.dir(id));
    const s = { version: 1, id, name: 'r', status: 'running', restarting: true, exitCode: 0, createdAt: '', rootfs: '/x', ownsRootfs: false, command: [], detached: true, tty: false, autoRemove: false, cgroup: false } satisfies ContainerState;
    store.write(s);
    return { store } as unknown as RuntimeContext;
  };

  it('waits out the delay and says restart', async () => {
    const ctx = setup();
    expect(await backoff(ctx, id, 30)).toBe(true);
    expect(ctx.store.read(id)?.restarting).toBe(true);
  });

  it('a stop mark ends it: recorded as stopped, the last exit kept; a new monitor clears the mark', async () => {
    const ctx = setup();
    markManualStop(ctx, id);
    expect(manualStopRequested(ctx, id)).toBe(true);
    expect(await backoff(ctx, id, 60_000)).toBe(false);
    const s = ctx.store.read(id);
    expect([s?.status, s?.restarting, s?.exitCode]).toEqual(['stopped', undefined, 0]);
    clearManualStop(ctx, id);
    expect(manualStopRequested(ctx, id)).toBe(false);
  });

  it('a removed container ends it', async () => {
    const ctx = setup();
    ctx.store.remove(id);
    expect(await backoff(ctx, id, 60_000)).toBe(false);
  });
});

