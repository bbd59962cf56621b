import { existsSync } from 'node:fs';

/**
 * The command line that runs `file args…` so that it dies with this process: through util-linux's
 * `setpriv --pdeathsig KILL` where it is installed. A CNI plugin or the `unshare` that makes a
 * namespace, left running by a berth that was SIGKILLed, would otherwise finish its ADD after the
 * next command's sweep has DELeted the attachment (a rule or a namespace file left behind; the
 * kill test found one). Without setpriv, the command runs as it is.
 */
export function dyingWithUs(file: string, args: readonly string[]): { file: string; args: string[] } {
  return SETPRIV ? { file: SETPRIV, args: ['--pdeathsig', 'KILL', '--', file, ...args] } : { file, args: [...args] };
}

const SETPRIV = ['/usr/bin/setpriv', '/bin/setpriv'].find((p) => existsSync(p));
