/**
 * DEL through a stand-in `bridge` plugin (a shell script that records each call's config):
 * a DEL the real bridge plugin fails for good after an ADD killed before its masquerade chain
 * existed is run again without `ipMasq`; any other failure stays a failure.
 */
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { delNetwork, type NetworkConfList } from './cni.js';

let dir: string;
let calls: string;

/** A `bridge` plugin that answers DEL with `error` (a CNI error message) while `ipMasq` is true, and succeeds otherwise. */
function fakeBridge(error: string): string {
  const plugins = path.join(dir, 'plugins');
  const script = path.join(plugins, 'bridge');
  writeFileSync(path.join(dir, 'error.json'), JSON.stringify({ cniVersion: '1.0.0', code: 999, msg: error }));
  rmSync(plugins, { recursive: true, force: true });
  mkdirSync(plugins);
  writeFileSync(
    script,
    `#!/bin/sh
conf=$(cat)
echo "$CNI_COMMAND $conf" >> ${calls}
case "$conf" in *'"ipMasq":true'*) cat ${path.join(dir, 'error.json')}; exit 1;; esac
exit 0
`,
  );
  chmodSync(script, 0o755);
  return plugins;
}

const list: NetworkConfList = { cniVersion: '1.0.0', name: 'bridge', plugins: [{ type: 'bridge', bridge: 'berth-t0', ipMasq: true }] };
const rt = { containerId: 'c0ffee', ifName: 'eth0', netns: '/run/netns/none', networkName: 'bridge' };

beforeEach(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'berth-cni-'));
  calls = path.join(dir, 'calls');
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const recorded = (): Array<{ command: string; ipMasq: unknown }> =>
  readFileSync(calls, 'utf8')
    .trim()
    .split('\n')
    .map((l) => {
      const [command, ...rest] = l.split(' ');
      return { command: command as string, ipMasq: (JSON.parse(rest.join(' ')) as { ipMasq?: unknown }).ipMasq };
    });

describe('delNetwork and the bridge plugin', () => {
  it('a masquerade chain that does not exist: the DEL is run again without ipMasq, and succeeds', async () => {
    const pluginDirs = [fakeBridge(`running [/usr/sbin/iptables -t nat -D POSTROUTING -s 10.0.0.2 -j CNI-0c56046c1d0f33f840969c10 --wait]: exit status 2: iptables v1.8.9 (nf_tables): Chain 'CNI-0c56046c1d0f33f840969c10' does not exist`)];
    await delNetwork(rt, { cacheDir: path.join(dir, 'cache'), pluginDirs }, list);
    expect(recorded()).toEqual([
      { command: 'DEL', ipMasq: true },
      { command: 'DEL', ipMasq: false },
    ]);
  });

  it('any other failure of the DEL is reported, with no second try', async () => {
    const pluginDirs = [fakeBridge('failed to delete veth: operation not permitted')];
    await expect(delNetwork(rt, { cacheDir: path.join(dir, 'cache'), pluginDirs }, list)).rejects.toThrow(/CNI DEL bridge for c0ffee: failed to delete veth/);
    expect(recorded()).toEqual([{ command: 'DEL', ipMasq: true }]);
  });
});
