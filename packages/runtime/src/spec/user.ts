import { BerthError } from '@berth/oci';
import { readContainedFile } from './contained.js';

export interface ResolvedUser {
  uid: number;
  gid: number;
  /** Supplementary groups: the /etc/group entries listing the user (only when no group was given). */
  additionalGids: number[];
  /** Home directory from passwd; else /root for uid 0 and / for others. */
  home: string;
  /** The passwd name, when the user has an entry. */
  name?: string;
}

export interface ResolveUserOptions {
  /** Host path of the container's root filesystem. */
  rootfs: string;
  /** `name`, `uid`, `uid:gid`, `name:group`, `uid:group`, `name:gid`; empty or undefined = root. */
  user?: string;
  /** Where `user` came from, as messages name it (default `--user`; buildSpec says `image config User` for the image's). */
  source?: string;
}

interface PasswdEntry {
  name: string;
  uid: number;
  gid: number;
  home: string;
}

interface GroupEntry {
  name: string;
  gid: number;
  members: string[];
}

const MAX_ID = 2 ** 31 - 1;

/**
 * Resolve a docker `--user` value against the CONTAINER's /etc/passwd and
 * /etc/group (read inside the rootfs, never following links out of it), with
 * libcontainer's rules: a name must exist; a numeric uid need not (gid 0 then);
 * `:group` sets the primary group (a name must exist, a number need not) and
 * disables supplementary groups; otherwise the supplementary groups are the
 * /etc/group entries that list the user's name.
 */
export function resolveUser(options: ResolveUserOptions): ResolvedUser {
  const spec = (options.user ?? '').trim();
  const colon = spec.indexOf(':');
  const userArg = colon < 0 ? spec : spec.slice(0, colon);
  const groupArg = colon < 0 ? '' : spec.slice(colon + 1);
  const source = options.source ?? '--user';
  const uidArg = numericId(userArg, 'user', spec, source);
  const gidArg = numericId(groupArg, 'group', spec, source);
  if (colon >= 0 && groupArg === '') throw new BerthError('EINVAL_ARGUMENT', `invalid ${source} "${spec}": empty group`);

  const passwd = readDb(options.rootfs, '/etc/passwd', 'passwd file', parsePasswd);
  const group = readDb(options.rootfs, '/etc/group', 'group file', parseGroup);

  const out: ResolvedUser = { uid: 0, gid: 0, additionalGids: [], home: '' };
  // No user given: look up uid 0 (libcontainer's "current state of the user").
  const match = passwd.find((u) => (userArg === '' ? u.uid === 0 : uidArg !== undefined ? u.uid === uidArg : u.name === userArg));
  if (match) {
    out.uid = match.uid;
    out.gid = match.gid;
    out.home = match.home;
    out.name = match.name;
  } else if (userArg !== '') {
    if (uidArg === undefined) {
      throw new BerthError('EINVAL_ARGUMENT', `unable to find user ${userArg}: no matching entries in passwd file`, {
        details: { user: userArg },
      });
    }
    out.uid = uidArg;
  }

  if (groupArg !== '') {
    const g = group.find((e) => (gidArg !== undefined ? e.gid === gidArg : e.name === groupArg));
    if (g) out.gid = g.gid;
    else if (gidArg !== undefined) out.gid = gidArg;
    else {
      throw new BerthError('EINVAL_ARGUMENT', `unable to find group ${groupArg}: no matching entries in group file`, {
        details: { group: groupArg },
      });
    }
  } else if (match) {
    const seen = new Set<number>();
    for (const g of group) {
      if (g.members.includes(match.name) && !seen.has(g.gid)) {
        seen.add(g.gid);
        out.additionalGids.push(g.gid);
      }
    }
  }
  if (!out.home) out.home = out.uid === 0 ? '/root' : '/';
  return out;
}

/**
 * `--group-add` values: group names (looked up in the container's /etc/group)
 * or numeric gids (need not exist). Unknown names fail with docker's text.
 */
export function resolveGroups(options: { rootfs: string; groups: readonly string[] }): number[] {
  if (options.groups.length === 0) return [];
  const group = readDb(options.rootfs, '/etc/group', 'group file', parseGroup);
  return options.groups.map((g) => {
    const name = g.trim();
    const gid = numericId(name, 'group', name, '--group-add');
    if (gid !== undefined) return gid;
    const entry = group.find((e) => e.name === name);
    if (!entry) {
      throw new BerthError('EINVAL_ARGUMENT', `unable to find group ${name}: no matching entries in group file`, { details: { group: name } });
    }
    return entry.gid;
  });
}

function numericId(arg: string, kind: string, spec: string, source: string): number | undefined {
  if (!/^\d+$/.test(arg)) return undefined;
  const n = Number(arg);
  if (n > MAX_ID) throw new BerthError('EINVAL_ARGUMENT', `invalid ${source} "${spec}": ${kind} id ${arg} is out of range 0-${MAX_ID}`);
  return n;
}

function readDb<T>(rootfs: string, file: string, what: string, parse: (text: string) => T[]): T[] {
  const buf = readContainedFile(rootfs, file, { what });
  return buf === undefined ? [] : parse(buf.toString('utf8'));
}

/** passwd(5) lines `name:password:uid:gid:gecos:home:shell`; malformed lines are skipped. */
export function parsePasswd(text: string): PasswdEntry[] {
  const out: PasswdEntry[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const f = line.split(':');
    if (f.length < 4) continue;
    const uid = Number(f[2]);
    const gid = Number(f[3]);
    if (!/^\d+$/.test(f[2] ?? '') || !/^\d+$/.test(f[3] ?? '')) continue;
    out.push({ name: f[0] ?? '', uid, gid, home: f[5] ?? '' });
  }
  return out;
}

/** group(5) lines `name:password:gid:member,member`; malformed lines are skipped. */
export function parseGroup(text: string): GroupEntry[] {
  const out: GroupEntry[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const f = line.split(':');
    if (f.length < 3 || !/^\d+$/.test(f[2] ?? '')) continue;
    const members = (f[3] ?? '')
      .split(',')
      .map((m) => m.trim())
      .filter((m) => m !== '');
    out.push({ name: f[0] ?? '', gid: Number(f[2]), members });
  }
  return out;
}
