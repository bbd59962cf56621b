/**
 * The CVE-2020-8558 guard. portmap (with `snat`, so 127.0.0.1:HOSTPORT reaches a container)
 * sets `route_localnet=1` on the bridge, which also lets a container send packets to the
 * host's 127.0.0.0/8 services through the bridge. As docker and kube-proxy do, a raw-table
 * rule drops packets for 127.0.0.0/8 arriving on the bridge (the host's own connections come
 * from `lo` and are not matched). One rule per bridge, added before the first port is
 * published on it and removed with the bridge (`deleteLink`).
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { BerthError } from '@berth/oci';

const execFileP = promisify(execFile);
export const LOCALNET_GUARD_COMMENT = 'berth: CVE-2020-8558 guard';

function rule(op: '-C' | '-I' | '-D', bridge: string): string[] {
  return ['-w', '-t', 'raw', op, 'PREROUTING', '-i', bridge, '-d', '127.0.0.0/8', '-m', 'comment', '--comment', LOCALNET_GUARD_COMMENT, '-j', 'DROP'];
}

async function iptables(args: string[]): Promise<boolean> {
  try {
    await execFileP('iptables', args);
    return true;
  } catch {
    return false;
  }
}

/** Adds the rule for `bridge` unless it is there. */
export async function ensureLocalnetGuard(bridge: string): Promise<void> {
  if (await iptables(rule('-C', bridge))) return;
  try {
    await execFileP('iptables', rule('-I', bridge));
  } catch (err) {
    const stderr = String((err as { stderr?: unknown }).stderr ?? '').trim();
    throw new BerthError('ENETWORK_PLUGIN', `guard ${bridge} against route_localnet (CVE-2020-8558): ${stderr || String(err)}`, { cause: err });
  }
}

/** Removes every copy of the rule for `bridge`; nothing when there is none. */
export async function removeLocalnetGuard(bridge: string): Promise<void> {
  for (let i = 0; i < 8 && (await iptables(rule('-D', bridge))); i++);
}
