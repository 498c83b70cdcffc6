/* C floor for the deep-scan sampler: no parsing, just syscalls, over the pids
   given on the command line, for the four files the sampler reads per
   candidate (stat, io, status, schedstat).
   modes: open+read+close of the four files; pread on four kept fds per pid.
   Adapted from shared/tools/procfloor.c (its pread_cached_stat mode).
   Usage: samplerfloor REPS PID...   Prints one JSON line per mode (seconds per pass). */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

static const char *FILES[4] = {"stat", "io", "status", "schedstat"};
static char buf[16384];

static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + t.tv_nsec * 1e-9; }
static int cmp(const void *a, const void *b) { double x = *(double *)a, y = *(double *)b; return x < y ? -1 : x > y; }

int main(int argc, char **argv) {
  if (argc < 3) { fprintf(stderr, "usage: samplerfloor REPS PID...\n"); return 2; }
  int reps = atoi(argv[1]), n = argc - 2;
  int *pids = malloc(sizeof(int) * n), *fds = malloc(sizeof(int) * n * 4);
  double *t = malloc(sizeof(double) * reps);
  long sink = 0;
  for (int i = 0; i < n; i++) pids[i] = atoi(argv[i + 2]);
  for (int i = 0; i < n; i++)
    for (int k = 0; k < 4; k++) {
      char p[64]; snprintf(p, sizeof p, "/proc/%d/%s", pids[i], FILES[k]);
      fds[i * 4 + k] = open(p, O_RDONLY | O_CLOEXEC);
    }
  const char *modes[] = {"open_read_close_4", "pread_kept_4"};
  for (int m = 0; m < 2; m++) {
    for (int r = 0; r < reps; r++) {
      double t0 = now();
      for (int i = 0; i < n; i++)
        for (int k = 0; k < 4; k++) {
          if (m == 0) {
            char p[64]; snprintf(p, sizeof p, "/proc/%d/%s", pids[i], FILES[k]);
            int fd = open(p, O_RDONLY | O_CLOEXEC);
            if (fd < 0) continue;
            sink += read(fd, buf, sizeof buf);
            close(fd);
          } else if (fds[i * 4 + k] >= 0) {
            sink += pread(fds[i * 4 + k], buf, sizeof buf, 0);
          }
        }
      t[r] = now() - t0;
    }
    qsort(t, reps, sizeof(double), cmp);
    printf("{\"mode\":\"%s\",\"n\":%d,\"min\":%.9f,\"median\":%.9f,\"max\":%.9f,\"reps\":%d}\n",
           modes[m], n, t[0], t[reps / 2], t[reps - 1], reps);
  }
  fprintf(stderr, "sink=%ld\n", sink);
  return 0;
}
