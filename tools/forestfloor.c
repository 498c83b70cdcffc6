/* C floor for tree_marginals at K = 4: the same two passes, written plainly; built and run by
   bench/test_bench_forest.py on the forest it benchmarks.

   usage: forestfloor IN OUT REPS
   IN holds n (int64), parent (n int64), log_lik (n x 4 float64), log_coupling (4 x 4), log_prior (4);
   OUT receives the log marginals (n x 4 float64) of the last rep. Acyclic input only.
   Per rep: breadth-first order (children lists, queue), the evidence gathered in that order
   less its row's max and exponentiated (libm exp), leaves up (a node times its children's
   messages, rescaled by its max), roots down (a child's exclusion: its parent's marginal over
   its own message), the marginal normalised, logged (libm log) and scattered back.
   Prints one JSON line per phase (order; evidence: the gather and exp; passes: both passes and
   the scatter; log; total): the least thread CPU time and the median wall time (seconds). */
#define _GNU_SOURCE
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define K 4

static double clock_of(clockid_t id) {
    struct timespec t;
    clock_gettime(id, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

static int by_value(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void *read_all(FILE *f, size_t bytes) {
    void *p = malloc(bytes ? bytes : 1);
    if (!p || fread(p, 1, bytes, f) != bytes) {
        fprintf(stderr, "forestfloor: short input\n");
        exit(2);
    }
    return p;
}

int main(int argc, char **argv) {
    if (argc != 4) {
        fprintf(stderr, "usage: forestfloor IN OUT REPS\n");
        return 2;
    }
    FILE *in = fopen(argv[1], "rb");
    if (!in) {
        perror(argv[1]);
        return 2;
    }
    int64_t n;
    if (fread(&n, sizeof n, 1, in) != 1 || n <= 0) {
        fprintf(stderr, "forestfloor: bad n\n");
        return 2;
    }
    int64_t *parent = read_all(in, n * sizeof(int64_t));
    double *lik = read_all(in, n * K * sizeof(double));
    double *logc = read_all(in, K * K * sizeof(double));
    double *logp = read_all(in, K * sizeof(double));
    fclose(in);
    int reps = atoi(argv[3]);
    if (reps < 1 || reps > 1000) reps = 21;

    double psi[K * K], prior[K], cmax = -INFINITY, pmax = -INFINITY;
    for (int i = 0; i < K * K; i++) cmax = fmax(cmax, logc[i]);
    for (int i = 0; i < K * K; i++) psi[i] = exp(logc[i] - cmax);
    for (int i = 0; i < K; i++) pmax = fmax(pmax, logp[i]);
    for (int i = 0; i < K; i++) prior[i] = exp(logp[i] - pmax);

    int64_t *start = malloc((n + 2) * sizeof *start), *child = malloc(n * sizeof *child);
    int64_t *order = malloc(n * sizeof *order), *up = malloc(n * sizeof *up);
    int64_t *first = malloc((n + 1) * sizeof *first);
    double *U = malloc(n * K * sizeof *U), *M = malloc(n * K * sizeof *M), *out = malloc(n * K * sizeof *out);
    enum { ORDER, EVIDENCE, PASSES, LOG, TOTAL, PHASES };
    static const char *name[PHASES] = {"order", "evidence", "passes", "log", "total"};
    static double cpu[PHASES][1000], wall[PHASES][1000];

    for (int r = 0; r < reps; r++) {
        double c[PHASES + 1], w[PHASES + 1];
        c[0] = clock_of(CLOCK_THREAD_CPUTIME_ID); w[0] = clock_of(CLOCK_MONOTONIC);
        int64_t tail = 0;
        memset(start, 0, (n + 2) * sizeof *start);
        for (int64_t i = 0; i < n; i++) {
            int64_t p = parent[i];
            if (p >= 0 && p < n && p != i) start[p + 2]++;
            else { order[tail] = i; up[tail++] = -1; }
        }
        for (int64_t i = 2; i < n + 2; i++) start[i] += start[i - 1];
        for (int64_t i = 0; i < n; i++) {
            int64_t p = parent[i];
            if (p >= 0 && p < n && p != i) child[start[p + 1]++] = i;
        }
        for (int64_t h = 0; h < tail; h++) {
            int64_t v = order[h];
            first[h] = tail;
            for (int64_t k = start[v]; k < start[v + 1]; k++) { order[tail] = child[k]; up[tail++] = h; }
        }
        first[n] = n;
        c[1] = clock_of(CLOCK_THREAD_CPUTIME_ID); w[1] = clock_of(CLOCK_MONOTONIC);

        for (int64_t k = 0; k < n; k++) {                   /* evidence, in order, scaled */
            const double *x = &lik[order[k] * K];
            double m = fmax(fmax(x[0], x[1]), fmax(x[2], x[3]));
            for (int a = 0; a < K; a++) U[k * K + a] = exp(x[a] - m);
        }
        c[2] = clock_of(CLOCK_THREAD_CPUTIME_ID); w[2] = clock_of(CLOCK_MONOTONIC);
        for (int64_t k = n - 1; k >= 0; k--) {              /* leaves up */
            double *u = &U[k * K];
            for (int64_t j = first[k]; j < first[k + 1]; j++) {
                double m = 0.0;
                for (int a = 0; a < K; a++) { u[a] *= M[j * K + a]; m = fmax(m, u[a]); }
                for (int a = 0; a < K; a++) u[a] /= m;
            }
            for (int a = 0; a < K; a++) {
                double s = 0.0;
                for (int b = 0; b < K; b++) s += psi[a * K + b] * u[b];
                M[k * K + a] = s;
            }
        }
        for (int64_t k = 0; k < n; k++) {                   /* roots down */
            double *u = &U[k * K], s = 0.0;
            if (up[k] < 0) {
                for (int b = 0; b < K; b++) { u[b] *= prior[b]; s += u[b]; }
            } else {
                double excl[K];
                for (int a = 0; a < K; a++) excl[a] = U[up[k] * K + a] / M[k * K + a];
                for (int b = 0; b < K; b++) {
                    double d = 0.0;
                    for (int a = 0; a < K; a++) d += psi[a * K + b] * excl[a];
                    u[b] *= d;
                    s += u[b];
                }
            }
            for (int b = 0; b < K; b++) { u[b] /= s; out[order[k] * K + b] = u[b]; }
        }
        c[3] = clock_of(CLOCK_THREAD_CPUTIME_ID); w[3] = clock_of(CLOCK_MONOTONIC);
        for (int64_t i = 0; i < n * K; i++) out[i] = log(out[i]);
        c[4] = clock_of(CLOCK_THREAD_CPUTIME_ID); w[4] = clock_of(CLOCK_MONOTONIC);
        for (int ph = 0; ph < TOTAL; ph++) { cpu[ph][r] = c[ph + 1] - c[ph]; wall[ph][r] = w[ph + 1] - w[ph]; }
        cpu[TOTAL][r] = c[4] - c[0]; wall[TOTAL][r] = w[4] - w[0];
    }

    FILE *o = fopen(argv[2], "wb");
    if (!o || fwrite(out, sizeof *out, n * K, o) != (size_t)(n * K)) {
        perror(argv[2]);
        return 2;
    }
    fclose(o);
    for (int ph = 0; ph < PHASES; ph++) {
        qsort(cpu[ph], reps, sizeof(double), by_value);
        qsort(wall[ph], reps, sizeof(double), by_value);
        printf("{\"phase\":\"%s\",\"n\":%lld,\"min_cpu\":%.9f,\"median_wall\":%.9f,\"reps\":%d}\n",
               name[ph], (long long)n, cpu[ph][0], wall[ph][reps / 2], reps);
    }
    return 0;
}
