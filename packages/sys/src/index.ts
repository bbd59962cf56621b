/**
 * @berth/sys: berth's system calls. The one koffi handle on libc (glibc or
 * musl), each C function declared on first use; the constants; the typed
 * wrappers (the Syscalls interface with LibcSyscalls and the RecordingSyscalls
 * fake, the file-system primitives, flock, malloc tuning, bpf, libseccomp);
 * and one error type, SysError. See README.md for the contracts.
 */

export {
  LIBC_NAMES,
  openFirst,
  libc,
  cfunc,
  lazyFunc,
  lastErrno,
  sizeOf,
  addressOf,
  structType,
} from './libc.js';
export type {
  CFunc,
} from './libc.js';
export {
  errnoName,
  errnoNumber,
  SysError,
  syscallError,
  errnoOf,
  errnoError,
} from './errors.js';
export type {
  ErrnoError,
} from './errors.js';
export {
  CLONE_NEWNS,
  CLONE_NEWCGROUP,
  CLONE_NEWUTS,
  CLONE_NEWIPC,
  CLONE_NEWUSER,
  CLONE_NEWPID,
  CLONE_NEWNET,
  MS_RDONLY,
  MS_NOSUID,
  MS_NODEV,
  MS_NOEXEC,
  MS_REMOUNT,
  MS_NOATIME,
  MS_NODIRATIME,
  MS_BIND,
  MS_MOVE,
  MS_REC,
  MS_PRIVATE,
  MS_SLAVE,
  MS_SHARED,
  MS_RELATIME,
  MS_STRICTATIME,
  MNT_DETACH,
  O_RDONLY,
  O_WRONLY,
  O_RDWR,
  O_CREAT,
  O_EXCL,
  O_NOCTTY,
  O_TRUNC,
  O_NONBLOCK,
  O_DIRECTORY,
  O_NOFOLLOW,
  O_CLOEXEC,
  O_PATH,
  F_GETFD,
  F_SETFD,
  FD_CLOEXEC,
  F_DUPFD_CLOEXEC,
  F_ADD_SEALS,
  F_GET_SEALS,
  F_SEAL_SEAL,
  F_SEAL_SHRINK,
  F_SEAL_GROW,
  F_SEAL_WRITE,
  MFD_CLOEXEC,
  MFD_ALLOW_SEALING,
  MFD_EXEC,
  FSOPEN_CLOEXEC,
  FSCONFIG_SET_STRING,
  FSCONFIG_CMD_CREATE,
  FSMOUNT_CLOEXEC,
  MOUNT_ATTR_RDONLY,
  MOUNT_ATTR_NOSUID,
  MOUNT_ATTR_NODEV,
  CLOSE_RANGE_CLOEXEC,
  S_IFCHR,
  S_IFBLK,
  S_IFIFO,
  S_IFSOCK,
  makedev,
  devMajor,
  devMinor,
  PR_GET_DUMPABLE,
  PR_SET_DUMPABLE,
  SIGKILL,
  SIG_SETMASK,
  SIG_UNBLOCK,
  TIOCSCTTY,
  TIOCGWINSZ,
  TIOCSWINSZ,
  TIOCSPTLCK,
  TIOCGPTN,
  TIOCGPTPEER,
  SIOCGIFFLAGS,
  SIOCSIFFLAGS,
  IFF_UP,
  AF_INET,
  SOCK_DGRAM,
  SOCK_CLOEXEC,
  SOCK_NONBLOCK,
  AF_UNIX,
  SOCK_STREAM,
  SOL_SOCKET,
  SCM_RIGHTS,
  MSG_CMSG_CLOEXEC,
  SIGNALS,
} from './syscalls.js';
export type {
  FileKind,
  StatInfo,
  Syscalls,
} from './syscalls.js';
export {
  RLIM_INFINITY,
  PR_SET_PDEATHSIG,
  PR_GET_KEEPCAPS,
  PR_SET_KEEPCAPS,
  PR_SET_SECCOMP,
  PR_CAPBSET_READ,
  PR_CAPBSET_DROP,
  PR_SET_NO_NEW_PRIVS,
  PR_GET_NO_NEW_PRIVS,
  PR_CAP_AMBIENT,
  PR_CAP_AMBIENT_IS_SET,
  PR_CAP_AMBIENT_RAISE,
  PR_CAP_AMBIENT_LOWER,
  PR_CAP_AMBIENT_CLEAR_ALL,
  SECCOMP_MODE_FILTER,
  LINUX_CAPABILITY_VERSION_3,
} from './security.js';
export type {
  SecuritySyscalls,
  CapabilityState,
  RlimitValue,
} from './security.js';
export {
  LibcSyscalls,
} from './libc-syscalls.js';
export type {
  LibcSyscallsOptions,
} from './libc-syscalls.js';
export {
  LibcSecuritySyscalls,
} from './libc-security.js';
export type {
  LibcSecurityOptions,
} from './libc-security.js';
export {
  ExecveReached,
  ExitReached,
  RecordingSyscalls,
} from './recording.js';
export type {
  RecordedCall,
  FakeEntry,
  ScriptedFailure,
  RecordingOptions,
} from './recording.js';
export {
  mknod,
  lsetxattr,
  fsetxattr,
  lremovexattr,
  llistxattr,
  lgetxattr,
  lutimens,
  lutimensRaw,
  futimens,
  STX,
  lstatx,
  timesFromStatx,
  FS_IMMUTABLE_FL,
  FS_APPEND_FL,
  getInodeFlags,
  setInodeFlags,
  ioctlBuffer,
} from './fs.js';
export type {
  SysPath,
  Timespec,
} from './fs.js';
export {
  LOCK_SH,
  LOCK_EX,
  LOCK_NB,
  LOCK_UN,
  tryFlock,
  loadFlock,
} from './flock.js';
export {
  M_TRIM_THRESHOLD,
  M_TOP_PAD,
  M_MMAP_MAX,
  MADV_HUGEPAGE,
  mallocControls,
} from './malloc.js';
export type {
  MallocControls,
} from './malloc.js';
export {
  BPF_PROG_LOAD,
  BPF_PROG_ATTACH,
  BPF_PROG_TYPE_CGROUP_DEVICE,
  BPF_CGROUP_DEVICE,
  BPF_F_ALLOW_MULTI,
  bpfProgLoad,
  bpfProgAttach,
} from './bpf.js';
export type {
  BpfProgLoad,
  BpfProgAttach,
} from './bpf.js';
export {
  libseccomp,
} from './libseccomp.js';
export type {
  Libseccomp,
} from './libseccomp.js';
