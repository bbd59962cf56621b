import {
  MS_BIND,
  MS_NOATIME,
  MS_NODEV,
  MS_NODIRATIME,
  MS_NOEXEC,
  MS_NOSUID,
  MS_PRIVATE,
  MS_RDONLY,
  MS_REC,
  MS_RELATIME,
  MS_SHARED,
  MS_SLAVE,
  MS_STRICTATIME,
} from '@berth/sys';

export interface ParsedMountOptions {
  /** mount(2) flags for the mount itself (MS_BIND, MS_REC, MS_NOSUID...). */
  flags: number;
  /** Propagation flags applied with a second mount(2) call (MS_PRIVATE|MS_REC...), 0 for none. */
  propagation: number;
  /** File-system specific options (`size=64m,mode=1777`), or null. */
  data: string | null;
  readonly: boolean;
  bind: boolean;
}

const SET: Record<string, number> = {
  ro: MS_RDONLY,
  nosuid: MS_NOSUID,
  nodev: MS_NODEV,
  noexec: MS_NOEXEC,
  bind: MS_BIND,
  rbind: MS_BIND | MS_REC,
  noatime: MS_NOATIME,
  nodiratime: MS_NODIRATIME,
  relatime: MS_RELATIME,
  strictatime: MS_STRICTATIME,
};

const CLEAR: Record<string, number> = {
  rw: MS_RDONLY,
  suid: MS_NOSUID,
  dev: MS_NODEV,
  exec: MS_NOEXEC,
  atime: MS_NOATIME,
  diratime: MS_NODIRATIME,
  norelatime: MS_RELATIME,
  nostrictatime: MS_STRICTATIME,
};

const PROPAGATION: Record<string, number> = {
  private: MS_PRIVATE,
  rprivate: MS_PRIVATE | MS_REC,
  slave: MS_SLAVE,
  rslave: MS_SLAVE | MS_REC,
  shared: MS_SHARED,
  rshared: MS_SHARED | MS_REC,
};

/** Parses mount(8)-style options into flags, propagation and data (runc's parseMountOptions). */
export function parseMountOptions(options: readonly string[]): ParsedMountOptions {
  let flags = 0;
  let propagation = 0;
  const data: string[] = [];
  for (const o of options) {
    const set = SET[o];
    const clear = CLEAR[o];
    const prop = PROPAGATION[o];
    if (set !== undefined) flags |= set;
    else if (clear !== undefined) flags &= ~clear;
    else if (prop !== undefined) propagation = prop;
    else if (o !== 'defaults' && o !== '') data.push(o);
  }
  return {
    flags,
    propagation,
    data: data.length > 0 ? data.join(',') : null,
    readonly: (flags & MS_RDONLY) !== 0,
    bind: (flags & MS_BIND) !== 0,
  };
}
