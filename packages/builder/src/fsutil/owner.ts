import { lstatSync, readFileSync } from 'node:fs';
import { BerthError } from '@berth/oci';
import { resolveInRoot, isWithin } from './root.js';

const MAX_DB_BYTES = 4 * 1024 * 1024;
const MAX_ID = 2 ** 31 - 1;

/** Read /etc/passwd or /etc/group of an image tree, resolved inside it (never a host file). */
function readDb(root: string, file: string): string[][] {
  const host = resolveInRoot(root, file);
  if (!isWithin(root, host)) return [];
  try {
    const st = lstatSync(host);
    if (!st.isFile() || st.size > MAX_DB_BYTES) return [];
    return readFileSync(host, 'utf8')
      .split('\n')
      .filter((l) => l && !l.startsWith('#'))
      .map((l) => l.split(':'));
  } catch {
    return [];
  }
}

function parseId(s: string, what: string): number {
  const n = Number(s);
  if (!/^\d+$/.test(s) || n > MAX_ID) throw new BerthError('EINVAL_ARGUMENT', `invalid ${what} ${JSON.stringify(s)}`);
  return n;
}

/**
 * `copy.chown`: `user[:group]` with names looked up in the image's
 * /etc/passwd and /etc/group (docker's rules: a uid without a group uses the
 * same number as gid; a name without a group uses its passwd group).
 */
export function resolveOwner(root: string, spec: string): { uid: number; gid: number } {
  const colon = spec.indexOf(':');
  const user = colon < 0 ? spec : spec.slice(0, colon);
  const group = colon < 0 ? undefined : spec.slice(colon + 1);
  if (user === '') throw new BerthError('EINVAL_ARGUMENT', `invalid chown ${JSON.stringify(spec)}`);
  let uid: number;
  let gid: number | undefined;
  if (/^\d+$/.test(user)) {
    uid = parseId(user, 'uid');
    if (group === undefined) gid = uid;
  } else {
    const entry = readDb(root, '/etc/passwd').find((f) => f[0] === user);
    if (!entry) throw new BerthError('EINVAL_ARGUMENT', `unable to find user ${user}: no matching entries in passwd file`);
    uid = parseId(entry[2] ?? '', 'uid');
    if (group === undefined) gid = parseId(entry[3] ?? '', 'gid');
  }
  if (group !== undefined) {
    if (/^\d+$/.test(group)) gid = parseId(group, 'gid');
    else {
      const entry = readDb(root, '/etc/group').find((f) => f[0] === group);
      if (!entry) throw new BerthError('EINVAL_ARGUMENT', `unable to find group ${group}: no matching entries in group file`);
      gid = parseId(entry[2] ?? '', 'gid');
    }
  }
  return { uid, gid: gid as number };
}
