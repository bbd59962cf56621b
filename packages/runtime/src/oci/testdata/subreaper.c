/*
 * What an engine's monitor (podman's conmon, containerd's shim) is to an OCI runtime, for
 * berth-runtime's tests: a child subreaper that runs a command (`berth-runtime create` and
 * `start` through a shell), so a container's init is reparented here when `create` exits,
 * then reaps every descendant and prints "PID STATUS" for each (STATUS: the exit code, or
 * 128+N for signal N), once nothing is left to wait for.
 */
#include <stdio.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: subreaper CMD [ARG...]\n");
    return 2;
  }
  if (prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0) {
    perror("prctl");
    return 2;
  }
  pid_t child = fork();
  if (child < 0) {
    perror("fork");
    return 2;
  }
  if (child == 0) {
    execvp(argv[1], argv + 1);
    perror("execvp");
    _exit(127);
  }
  int status;
  pid_t pid;
  while ((pid = wait(&status)) > 0) {
    int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    printf("%d %d\n", (int)pid, code);
    fflush(stdout);
  }
  return 0;
}
