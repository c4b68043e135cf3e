/*
 * topk-bench: what top-k gates save at batch 1 (mmoe_model_predict).
 *
 *     topk-bench [--config A|B] [--arch mmoe|cgc|ple] [--k K] [--rounds N]
 *
 * Builds the model of mmoe-bench's shape A or B twice with the same
 * weights, once with softmax gates and once with gate.kind topk (k of the
 * experts a gate mixes), and times single-row predicts of both,
 * alternating in rounds of 200 calls so that both see the same machine
 * load. Prints the median per-call time of each, their ratio (softmax /
 * top-k), and how many experts the top-k model's top level computed per
 * row on average (the union over the tasks' gates).
 *
 * --arch mmoe (default): E experts. cgc / ple (2 levels): the same E
 * experts per level, split into E/2 shared ones and E/(2T) of each task's
 * own, so a task gate mixes E/2 + E/(2T). Public API only; one BLAS thread.
 */
#define _POSIX_C_SOURCE 200809L

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <mmoe/mmoe.h>

#define ROWS 256
#define CALLS 200

typedef struct shape {
    const char *name;
    size_t in, experts, n_layers, widths[2], tasks, tower;
} shape;

static const shape shapes[] = {
    {"A", 100, 8, 1, {16, 0}, 2, 8},
    {"B", 512, 16, 2, {256, 128}, 4, 64},
};

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static mmoe_model *build(const shape *s, const char *arch, const char *gate, size_t k)
{
    const int ple = strcmp(arch, "mmoe") != 0;
    char own[32];
    snprintf(own, sizeof own, "%zu", s->experts / 2 / s->tasks);
    mmoe_config *c;
    mmoe_model *m = NULL;
    char kk[32];
    snprintf(kk, sizeof kk, "%zu", k);
    if (mmoe_config_create(&c) != MMOE_OK)
        return NULL;
    int ok = mmoe_config_set_int(c, "input.dense", (int64_t)s->in) == MMOE_OK &&
             mmoe_config_set_int(c, "seed", 42) == MMOE_OK &&
             mmoe_config_set(c, "arch", arch) == MMOE_OK &&
             mmoe_config_set_experts(c, ple ? s->experts / 2 : s->experts, s->n_layers, s->widths,
                                     MMOE_ACT_RELU) == MMOE_OK &&
             mmoe_config_set(c, "gate.kind", gate) == MMOE_OK &&
             mmoe_config_set(c, "gate.top_k", kk) == MMOE_OK;
    for (size_t t = 0; ok && t < s->tasks; t++) {
        char name[48];
        snprintf(name, sizeof name, "task%zu", t);
        ok = mmoe_config_add_task(c, name, MMOE_TASK_BINARY, 1, &s->tower, MMOE_ACT_RELU, 1.0f) ==
             MMOE_OK;
        snprintf(name, sizeof name, "task.%zu.experts", t);
        ok = ok && (!ple || mmoe_config_set(c, name, own) == MMOE_OK);
    }
    if (!ok || mmoe_model_create(c, &m) != MMOE_OK)
        fprintf(stderr, "topk-bench: %s\n", mmoe_last_error());
    mmoe_config_free(c);
    return m;
}

int main(int argc, char **argv)
{
    const shape *s = &shapes[0];
    size_t k = 2, rounds = 50;
    const char *arch = "mmoe";
    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--arch") == 0)
            arch = argv[i + 1];
        else if (strcmp(argv[i], "--config") == 0)
            s = strcmp(argv[i + 1], "B") == 0 ? &shapes[1] : &shapes[0];
        else if (strcmp(argv[i], "--k") == 0)
            k = (size_t)strtoul(argv[i + 1], NULL, 10);
        else if (strcmp(argv[i], "--rounds") == 0)
            rounds = (size_t)strtoul(argv[i + 1], NULL, 10);
    }
    if (k < 1 || rounds < 1 ||
        (strcmp(arch, "mmoe") != 0 && strcmp(arch, "cgc") != 0 && strcmp(arch, "ple") != 0)) {
        fprintf(stderr, "usage: topk-bench [--config A|B] [--arch mmoe|cgc|ple] [--k K >= 1] "
                        "[--rounds N >= 1]\n");
        return 2;
    }
    (void)mmoe_set_num_threads(1);
    mmoe_model *soft = build(s, arch, "softmax", k), *topk = build(s, arch, "topk", k);
    if (!soft || !topk)
        return 1;
    const size_t E = mmoe_model_num_experts(topk); /* per level; numbering of gate_weights */
    float *ps, *pt;
    size_t n;
    mmoe_model_flat(soft, &ps, NULL, &n);
    mmoe_model_flat(topk, &pt, NULL, NULL);
    memcpy(pt, ps, n * sizeof *pt); /* the same weights */
    float *x = malloc(ROWS * s->in * sizeof *x), out[8];
    double *ts = malloc(rounds * sizeof *ts), *tt = malloc(rounds * sizeof *tt);
    mmoe_workspace *ws, *wt;
    if (!x || !ts || !tt || mmoe_workspace_create(soft, 1, &ws) != MMOE_OK ||
        mmoe_workspace_create(topk, 1, &wt) != MMOE_OK)
        return 1;
    uint64_t st = 12345;
    for (size_t i = 0; i < ROWS * s->in; i++) {
        st = st * 6364136223846793005ULL + 1442695040888963407ULL;
        x[i] = (float)((double)(st >> 40) / (double)(1ULL << 24)) * 2.0f - 1.0f;
    }
    /* Experts computed per row by the top-k model: the union of the gates' selections. */
    double used = 0.0;
    float *gw = malloc(E * sizeof *gw);
    for (size_t r = 0; r < ROWS && gw; r++) {
        unsigned char sel[64] = {0};
        mmoe_model_forward(topk, 1, x + r * s->in, NULL);
        for (size_t t = 0; t < s->tasks; t++) {
            mmoe_model_gate_weights(topk, t, gw, E);
            for (size_t e = 0; e < E; e++)
                sel[e] |= gw[e] != 0.0f;
        }
        for (size_t e = 0; e < E; e++)
            used += sel[e];
    }
    free(gw);
    for (size_t r = 0; r < rounds; r++) {
        for (int which = 0; which < 2; which++) {
            mmoe_model *m = which ? topk : soft;
            mmoe_workspace *w = which ? wt : ws;
            double t0 = now();
            for (size_t c = 0; c < CALLS; c++)
                mmoe_model_predict(m, w, 1, x + (c % ROWS) * s->in, NULL, out);
            (which ? tt : ts)[r] = (now() - t0) / CALLS;
        }
    }
    qsort(ts, rounds, sizeof *ts, cmp);
    qsort(tt, rounds, sizeof *tt, cmp);
    printf("config %s, %s: %zu experts per level, %zu tasks, top-%zu; top-k computes %.2f "
           "experts per row on average (top level)\n",
           s->name, arch, E, s->tasks, k, used / ROWS);
    printf("batch-1 predict, median of %zu rounds of %d calls: softmax %.2f us, top-k %.2f us, "
           "softmax / top-k %.2f\n",
           rounds, CALLS, 1e6 * ts[rounds / 2], 1e6 * tt[rounds / 2],
           ts[rounds / 2] / tt[rounds / 2]);
    mmoe_workspace_free(ws);
    mmoe_workspace_free(wt);
    mmoe_model_free(soft);
    mmoe_model_free(topk);
    free(x);
    free(ts);
    free(tt);
    return 0;
}
