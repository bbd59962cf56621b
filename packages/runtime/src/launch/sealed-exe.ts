import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { BerthError, describeError } from '@berth/oci';
import {
  F_ADD_SEALS,
  F_DUPFD_CLOEXEC,
  F_SEAL_GROW,
  F_SEAL_SEAL,
  F_SEAL_SHRINK,
  F_SEAL_WRITE,
  FSCONFIG_CMD_CREATE,
  FSCONFIG_SET_STRING,
  FSMOUNT_CLOEXEC,
  FSOPEN_CLOEXEC,
  MFD_ALLOW_SEALING,
  MFD_CLOEXEC,
  MFD_EXEC,
  MOUNT_ATTR_NODEV,
  MOUNT_ATTR_NOSUID,
  MOUNT_ATTR_RDONLY,
  O_CLOEXEC,
  O_NOFOLLOW,
  O_PATH,
  O_RDONLY,
} from '@berth/sys';
import type { Syscalls } from '@berth/sys';

/**
 * The executable the container inits run from: the runtime's own binary (node), as a file
 * the container cannot write (CVE-2019-5736). The init execve()s the container's process,
 * and until then the container can reach the init's executable: a command of
 * `/proc/self/exe` makes the kernel run it again (with the image's ELF interpreter, which
 * then holds /proc/self/exe), and a process joining the container's pid namespace can open
 * /proc/<init>/exe. Through the host's node binary, a writable fd means code execution on
 * the host the next time anyone runs node.
 *
 * So the init is spawned as `/proc/self/fd/N` (N below), an fd of this process that is:
 * - `overlay`: the binary opened (O_PATH) through a read-only overlayfs whose lower layer
 *   is the binary's directory, made with fsopen/fsmount and never attached anywhere (no
 *   mount appears, nothing to clean up). Opening it for writing, also through
 *   /proc/<pid>/exe or /proc/<pid>/fd, fails with EROFS; unlike a read-only bind mount of
 *   the file, there is no mount of the file itself whose flags could be changed back.
 *   Costs next to nothing.
 * - `memfd`: when that fails (no overlayfs, no CAP_SYS_ADMIN), a copy in a memfd sealed
 *   against writes, growing, shrinking and further sealing: writable by nobody, and no
 *   host file. ~100 MB of memory and a copy (tens of ms) per process.
 *
 * Made once per process and kept (close-on-exec) for every init it spawns, parked ones
 * included. The fd is close-on-exec: the exec of /proc/self/fd/N resolves the path
 * before the kernel closes it, so the init never holds it.
 */
export interface SealedExecutable {
  /** The path to execute: /proc/self/fd/N (valid in this process and in a child it forks). */
  path: string;
  fd: number;
  how: 'overlay' | 'memfd';
}

/** fds below this can be a spawned child's stdio slots (dup2'd over before its exec). */
const MIN_FD = 16;

/**
 * Per binary, for the whole process: every Runtime (runCommand makes one per build step)
 * shares it. The first caller's Syscalls makes it (a unit test with a fake Syscalls must
 * not get here: its fd would be fake).
 */
const sealed = new Map<string, SealedExecutable>();

/** The sealed executable for `binary` (default: this process's own, /proc/self/exe), made on first use. */
export function sealedExecutable(sys: Syscalls, binary?: string): SealedExecutable {
  const file = binary ?? fs.readlinkSync('/proc/self/exe');
  let s = sealed.get(file);
  if (s === undefined) {
    // The copy comes from /proc/self/exe itself: it still reads when the file was replaced meanwhile.
    s = sealExecutable(sys, file, binary === undefined ? { copyFrom: '/proc/self/exe' } : {});
    sealed.set(file, s);
  }
  return s;
}

export interface SealOptions {
  /** Skip the overlay (tests of the fallback). */
  memfdOnly?: boolean;
  /** What the memfd fallback copies (default: `file`). */
  copyFrom?: string;
}

/** Makes a sealed executable for `file`: through a read-only overlayfs, else a sealed memfd copy. */
export function sealExecutable(sys: Syscalls, file: string, opts: SealOptions = {}): SealedExecutable {
  let overlayError: unknown;
  if (opts.memfdOnly !== true) {
    try {
      return withHighFd(sys, readOnlyOverlayOpen(sys, file), 'overlay');
    } catch (err) {
      overlayError = err;
    }
  }
  try {
    return withHighFd(sys, sealedMemfdCopy(sys, opts.copyFrom ?? file), 'memfd');
  } catch (err) {
    const why = overlayError === undefined ? '' : ` (read-only overlay: ${describeError(overlayError)})`;
    throw BerthError.wrap(`seal the runtime binary ${file} for the container init${why}`, err, 'ERUNTIME');
  }
}

function withHighFd(sys: Syscalls, fd: number, how: SealedExecutable['how']): SealedExecutable {
  let high = fd;
  if (fd < MIN_FD) {
    try {
      high = sys.fcntl(fd, F_DUPFD_CLOEXEC, MIN_FD);
    } finally {
      sys.close(fd);
    }
  }
  return { path: `/proc/self/fd/${high}`, fd: high, how };
}

/** overlayfs's lowerdir syntax: `:` separates layers, `\` escapes. */
function escapeLowerDir(dir: string): string {
  return dir.replaceAll('\\', '\\\\').replaceAll(':', '\\:');
}

/**
 * Opens `file` (O_PATH) through a new, detached, read-only overlayfs of its directory.
 * overlayfs without an upper layer needs two lower ones: the second is an empty temp
 * directory, below the binary's so that it cannot hide it.
 */
function readOnlyOverlayOpen(sys: Syscalls, file: string): number {
  const empty = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-exe-'));
  try {
    const ctx = sys.fsopen('overlay', FSOPEN_CLOEXEC);
    try {
      sys.fsconfig(ctx, FSCONFIG_SET_STRING, 'lowerdir', `${escapeLowerDir(path.dirname(file))}:${escapeLowerDir(empty)}`);
      try {
        // Only avoids dmesg noise when the layers are on different file systems.
        sys.fsconfig(ctx, FSCONFIG_SET_STRING, 'xino', 'off');
      } catch {
        // An older overlayfs without xino.
      }
      sys.fsconfig(ctx, FSCONFIG_CMD_CREATE, null, null);
      const mnt = sys.fsmount(ctx, FSMOUNT_CLOEXEC, MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV);
      try {
        return sys.openat(mnt, path.basename(file), O_PATH | O_NOFOLLOW | O_CLOEXEC);
      } finally {
        sys.close(mnt);
      }
    } finally {
      sys.close(ctx);
    }
  } finally {
    fs.rmSync(empty, { recursive: true, force: true });
  }
}

/** A copy of `file` in a memfd, sealed against any change, reopened read-only (no writer left). */
function sealedMemfdCopy(sys: Syscalls, file: string): number {
  let memfd: number;
  try {
    memfd = sys.memfdCreate('berth-init', MFD_CLOEXEC | MFD_ALLOW_SEALING | MFD_EXEC);
  } catch {
    // Before Linux 6.3 MFD_EXEC is unknown (EINVAL), and memfds are executable anyway.
    memfd = sys.memfdCreate('berth-init', MFD_CLOEXEC | MFD_ALLOW_SEALING);
  }
  try {
    const src = sys.open(file, O_RDONLY | O_CLOEXEC);
    try {
      // In the kernel, page cache to memfd: about twice as fast as read/write through here.
      let copied: number;
      do copied = sys.sendfile(memfd, src, 1 << 30);
      while (copied > 0);
    } finally {
      sys.close(src);
    }
    sys.fchmod(memfd, 0o555);
    sys.fcntl(memfd, F_ADD_SEALS, F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE);
    // An exec refuses a file open for writing (ETXTBSY): keep a read-only fd instead.
    return sys.open(`/proc/self/fd/${memfd}`, O_RDONLY | O_CLOEXEC);
  } finally {
    sys.close(memfd);
  }
}
