/*
 * libmmoe-synth: synthetic multi-task regression data with a controlled
 * task correlation (see include/mmoe/synth.h for the construction).
 *
 * Self-contained: uses only the public libmmoe headers, its own random
 * number generator (splitmix64-seeded xoshiro256**) and Gaussian sampler
 * (Marsaglia polar method). All arithmetic is double precision.
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mmoe/mmoe.h>
#include <mmoe/synth.h>

#define SYNTH_ERRLEN 256

/* Stream identifiers: one seed, three independent streams. */
enum { STREAM_VECTORS = 1, STREAM_SIN = 2, STREAM_SAMPLES = 3 };

/* ------------------------------------------------------------------------ */
/* Errors                                                                    */
/* ------------------------------------------------------------------------ */

static _Thread_local char tls_error[SYNTH_ERRLEN];

#if defined(__GNUC__)
__attribute__((format(printf, 4, 5)))
#endif
static mmoe_status
synth_fail(char *errbuf, mmoe_status status, const char *func, const char *fmt, ...)
{
    char msg[SYNTH_ERRLEN];
    int n = snprintf(msg, sizeof msg, "%s: ", func);
    if (n < 0 || (size_t)n >= sizeof msg)
        n = 0;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg + n, sizeof msg - (size_t)n, fmt, ap);
    va_end(ap);
    memcpy(tls_error, msg, sizeof msg);
    if (errbuf)
        memcpy(errbuf, msg, sizeof msg);
    return status;
}

#define FAIL(errbuf, status, ...) synth_fail((errbuf), (status), __func__, __VA_ARGS__)

const char *mmoe_synth_thread_last_error(void)
{
    return tls_error;
}

/* ------------------------------------------------------------------------ */
/* Random numbers                                                            */
/* ------------------------------------------------------------------------ */

typedef struct rng {
    uint64_t s[4];
    double spare; /* second value of the last polar pair */
    int has_spare;
} rng;

static uint64_t splitmix64(uint64_t *state)
{
    uint64_t z = (*state += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

static uint64_t rotl64(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

static uint64_t rng_next(rng *r)
{
    uint64_t *s = r->s;
    uint64_t result = rotl64(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl64(s[3], 45);
    return result;
}

/* Seed stream `stream` of `seed`: distinct streams start from unrelated states. */
static void rng_seed(rng *r, uint64_t seed, uint64_t stream)
{
    uint64_t sm = seed;
    uint64_t mixed_seed = splitmix64(&sm);
    uint64_t st = stream * 0xD1B54A32D192ED03ULL + 0x8CB92BA72F3D8DD7ULL;
    uint64_t mixed_stream = splitmix64(&st);
    uint64_t state = mixed_seed ^ rotl64(mixed_stream, 23);
    for (int i = 0; i < 4; i++)
        r->s[i] = splitmix64(&state);
    if ((r->s[0] | r->s[1] | r->s[2] | r->s[3]) == 0)
        r->s[0] = 1; /* the all-zero state is a fixed point */
    r->spare = 0.0;
    r->has_spare = 0;
}

/* Uniform in [0, 1) with 53 random bits. */
static double rng_uniform(rng *r)
{
    return (double)(rng_next(r) >> 11) * (1.0 / 9007199254740992.0);
}

/* Standard normal (Marsaglia polar method; values come in pairs). */
static double rng_gauss(rng *r)
{
    if (r->has_spare) {
        r->has_spare = 0;
        return r->spare;
    }
    double u, v, s;
    do {
        u = 2.0 * rng_uniform(r) - 1.0;
        v = 2.0 * rng_uniform(r) - 1.0;
        s = u * u + v * v;
    } while (s >= 1.0 || s == 0.0);
    double f = sqrt(-2.0 * log(s) / s);
    r->spare = v * f;
    r->has_spare = 1;
    return u * f;
}

/* ------------------------------------------------------------------------ */
/* Configuration                                                             */
/* ------------------------------------------------------------------------ */

struct mmoe_synth_config {
    size_t d;
    size_t tasks;
    double scale;
    double corr;
    size_t m;
    double *alpha; /* explicit sin parameters (m each), or NULL: drawn */
    double *beta;
    double sigma;
    uint64_t seed;
    char err[SYNTH_ERRLEN];
};

mmoe_status mmoe_synth_config_create(mmoe_synth_config **out)
{
    if (!out)
        return FAIL(NULL, MMOE_ERR_NULL, "out is NULL");
    *out = NULL;
    mmoe_synth_config *cfg = calloc(1, sizeof *cfg);
    if (!cfg)
        return FAIL(NULL, MMOE_ERR_NOMEM, "cannot allocate a configuration");
    cfg->d = 100;
    cfg->tasks = 2;
    cfg->scale = 1.0;
    cfg->corr = 0.0;
    cfg->m = 10;
    cfg->alpha = NULL;
    cfg->beta = NULL;
    cfg->sigma = 0.1;
    cfg->seed = 1;
    cfg->err[0] = '\0';
    *out = cfg;
    return MMOE_OK;
}

void mmoe_synth_config_free(mmoe_synth_config *cfg)
{
    if (!cfg)
        return;
    free(cfg->alpha);
    free(cfg->beta);
    free(cfg);
}

const char *mmoe_synth_config_last_error(const mmoe_synth_config *cfg)
{
    return cfg ? cfg->err : "";
}

mmoe_status mmoe_synth_config_set_dim(mmoe_synth_config *cfg, size_t d)
{
    if (!cfg)
        return FAIL(NULL, MMOE_ERR_NULL, "cfg is NULL");
    if (d < 1 || d > MMOE_SYNTH_MAX_DIM)
        return FAIL(cfg->err, MMOE_ERR_RANGE, "input width %zu outside 1..%zu", d,
                    MMOE_SYNTH_MAX_DIM);
    cfg->d = d;
    cfg->err[0] = '\0';
    return MMOE_OK;
}

mmoe_status mmoe_synth_config_set_tasks(mmoe_synth_config *cfg, size_t tasks)
{
    if (!cfg)
        return FAIL(NULL, MMOE_ERR_NULL, "cfg is NULL");
    if (tasks < 1 || tasks > MMOE_SYNTH_MAX_TASKS)
        return FAIL(cfg->err, MMOE_ERR_RANGE, "task count %zu outside 1..%zu", tasks,
                    MMOE_SYNTH_MAX_TASKS);
    cfg->tasks = tasks;
    cfg->err[0] = '\0';
    return MMOE_OK;
}

mmoe_status mmoe_synth_config_set_scale(mmoe_synth_config *cfg, double c)
{
    if (!cfg)
        return FAIL(NULL, MMOE_ERR_NULL, "cfg is NULL");
    if (!isfinite(c))
        return FAIL(cfg->err, MMOE_ERR_NONFINITE, "scale is not finite");
    if (!(c > 0.0) || c > MMOE_SYNTH_MAX_SCALE)
        return FAIL(cfg->err, MMOE_ERR_RANGE, "scale %g outside (0, %g]", c, MMOE_SYNTH_MAX_SCALE);
    cfg->scale = c;
    cfg->err[0] = '\0';
    return MMOE_OK;
}

mmoe_status mmoe_synth_config_set_correlation(mmoe_synth_config *cfg, double p)
{
    if (!cfg)
        return FAIL(NULL, MMOE_ERR_NULL, "cfg is NULL");
    if (!isfinite(p))
        return FAIL(cfg->err, MMOE_ERR_NONFINITE, "correlation is not finite");
    if (p < -1.0 || p > 1.0)
        return FAIL(cfg->err, MMOE_ERR_RANGE, "correlation %g outside [-1, 1]", p);
    cfg->corr = p;
    cfg->err[0] = '\0';
    return MMOE_OK;
}

mmoe_status mmoe_synth_config_set_sin_terms(mmoe_synth_config *cfg, size_t m)
{
    if (!cfg)
        return FAIL(NULL, MMOE_ERR_NULL, "cfg is NULL");
    if (m > MMOE_SYNTH_MAX_SIN_TERMS)
        return FAIL(cfg->err, MMOE_ERR_RANGE, "sin term count %zu above %zu", m,
                    MMOE_SYNTH_MAX_SIN_TERMS);
    free(cfg->alpha);
    free(cfg->beta);
    cfg->alpha = NULL;
    cfg->beta = NULL;
    cfg->m = m;
    cfg->err[0] = '\0';
    return MMOE_OK;
}

mmoe_status mmoe_synth_config_set_sin_params(mmoe_synth_config *cfg, size_t m, const double *alpha,
                                             const double *beta)
{
    if (!cfg)
        return FAIL(NULL, MMOE_ERR_NULL, "cfg is NULL");
    if (m > MMOE_SYNTH_MAX_SIN_TERMS)
        return FAIL(cfg->err, MMOE_ERR_RANGE, "sin term count %zu above %zu", m,
                    MMOE_SYNTH_MAX_SIN_TERMS);
    if (m > 0 && (!alpha || !beta))
        return FAIL(cfg->err, MMOE_ERR_NULL, "alpha or beta is NULL with m = %zu", m);
    for (size_t j = 0; j < m; j++) {
        if (!isfinite(alpha[j]) || !isfinite(beta[j]))
            return FAIL(cfg->err, MMOE_ERR_NONFINITE, "alpha[%zu] or beta[%zu] is not finite", j,
                        j);
        if (fabs(alpha[j]) > MMOE_SYNTH_MAX_SIN_PARAM || fabs(beta[j]) > MMOE_SYNTH_MAX_SIN_PARAM)
            return FAIL(cfg->err, MMOE_ERR_RANGE, "|alpha[%zu]| or |beta[%zu]| above %g", j, j,
                        MMOE_SYNTH_MAX_SIN_PARAM);
    }
    /* m <= 65536, so m * sizeof(double) cannot overflow; allocate at least one. */
    size_t bytes = (m ? m : 1) * sizeof(double);
    double *a = malloc(bytes);
    double *b = malloc(bytes);
    if (!a || !b) {
        free(a);
        free(b);
        return FAIL(cfg->err, MMOE_ERR_NOMEM, "cannot allocate %zu sin parameters", m);
    }
    if (m > 0) {
        memcpy(a, alpha, m * sizeof(double));
        memcpy(b, beta, m * sizeof(double));
    }
    free(cfg->alpha);
    free(cfg->beta);
    cfg->alpha = a;
    cfg->beta = b;
    cfg->m = m;
    cfg->err[0] = '\0';
    return MMOE_OK;
}

mmoe_status mmoe_synth_config_set_noise(mmoe_synth_config *cfg, double sigma)
{
    if (!cfg)
        return FAIL(NULL, MMOE_ERR_NULL, "cfg is NULL");
    if (!isfinite(sigma))
        return FAIL(cfg->err, MMOE_ERR_NONFINITE, "noise sigma is not finite");
    if (sigma < 0.0 || sigma > MMOE_SYNTH_MAX_SCALE)
        return FAIL(cfg->err, MMOE_ERR_RANGE, "noise sigma %g outside [0, %g]", sigma,
                    MMOE_SYNTH_MAX_SCALE);
    cfg->sigma = sigma;
    cfg->err[0] = '\0';
    return MMOE_OK;
}

mmoe_status mmoe_synth_config_set_seed(mmoe_synth_config *cfg, uint64_t seed)
{
    if (!cfg)
        return FAIL(NULL, MMOE_ERR_NULL, "cfg is NULL");
    cfg->seed = seed;
    cfg->err[0] = '\0';
    return MMOE_OK;
}

/* ------------------------------------------------------------------------ */
/* Generator                                                                 */
/* ------------------------------------------------------------------------ */

struct mmoe_synth {
    size_t d;
    size_t tasks;
    size_t m;
    double sigma;
    uint64_t seed;
    double *w;     /* [tasks, d] weight vectors */
    double *alpha; /* [m] */
    double *beta;  /* [m] */
    rng samples;   /* sample stream */
    char err[SYNTH_ERRLEN];
};

/*
 * Orthonormalise the rows of u ([t, d], Gaussian on entry) in place by
 * Gram-Schmidt, projecting twice for accuracy. A row that becomes (nearly)
 * dependent on the previous ones is redrawn from r; with Gaussian rows and
 * d >= t this practically never happens.
 */
static void orthonormalise(double *u, size_t t, size_t d, rng *r)
{
    for (size_t i = 0; i < t; i++) {
        double *ui = u + i * d;
        for (;;) {
            double before = 0.0;
            for (size_t k = 0; k < d; k++)
                before += ui[k] * ui[k];
            for (int pass = 0; pass < 2; pass++) {
                for (size_t j = 0; j < i; j++) {
                    const double *uj = u + j * d;
                    double dot = 0.0;
                    for (size_t k = 0; k < d; k++)
                        dot += ui[k] * uj[k];
                    for (size_t k = 0; k < d; k++)
                        ui[k] -= dot * uj[k];
                }
            }
            double nrm2 = 0.0;
            for (size_t k = 0; k < d; k++)
                nrm2 += ui[k] * ui[k];
            if (nrm2 > 1e-20 * before && nrm2 > 0.0) {
                double inv = 1.0 / sqrt(nrm2);
                for (size_t k = 0; k < d; k++)
                    ui[k] *= inv;
                break;
            }
            for (size_t k = 0; k < d; k++)
                ui[k] = rng_gauss(r);
        }
    }
}

/*
 * Lower Cholesky factor of the t x t matrix with 1 on the diagonal and p
 * elsewhere, into l ([t, t], zero above the diagonal). The matrix must be
 * positive semidefinite (p >= -1/(t-1)); a pivot that is zero up to
 * rounding (the singular boundary, or p = 1) is set to zero together with
 * the column below it, which is exact for a semidefinite matrix.
 */
static void cholesky_equicorr(double *l, size_t t, double p)
{
    for (size_t i = 0; i < t * t; i++)
        l[i] = 0.0;
    for (size_t j = 0; j < t; j++) {
        double diag = 1.0;
        for (size_t k = 0; k < j; k++)
            diag -= l[j * t + k] * l[j * t + k];
        double pivot = diag > 1e-12 ? sqrt(diag) : 0.0;
        l[j * t + j] = pivot;
        for (size_t i = j + 1; i < t; i++) {
            if (pivot == 0.0) {
                l[i * t + j] = 0.0;
                continue;
            }
            double v = p;
            for (size_t k = 0; k < j; k++)
                v -= l[i * t + k] * l[j * t + k];
            l[i * t + j] = v / pivot;
        }
    }
}

mmoe_status mmoe_synth_create(const mmoe_synth_config *cfg, mmoe_synth **out)
{
    if (!out)
        return FAIL(NULL, MMOE_ERR_NULL, "out is NULL");
    *out = NULL;
    if (!cfg)
        return FAIL(NULL, MMOE_ERR_NULL, "cfg is NULL");
    const size_t d = cfg->d, t = cfg->tasks, m = cfg->m;
    if (d < t)
        return FAIL(NULL, MMOE_ERR_INVALID_ARG,
                    "input width %zu is smaller than the task count %zu (need d >= T for "
                    "orthogonal unit vectors)",
                    d, t);
    if (t > 2 && cfg->corr < -1.0 / (double)(t - 1))
        return FAIL(NULL, MMOE_ERR_RANGE,
                    "correlation %g below -1/(T-1) = %g: no %zu vectors have that pairwise "
                    "cosine",
                    cfg->corr, -1.0 / (double)(t - 1), t);

    size_t td;
    if (d != 0 && t > SIZE_MAX / d)
        return FAIL(NULL, MMOE_ERR_OVERFLOW, "T*d too large");
    td = t * d;
    if (td > SIZE_MAX / sizeof(double) || t > SIZE_MAX / t / sizeof(double))
        return FAIL(NULL, MMOE_ERR_OVERFLOW, "weight storage too large");

    mmoe_synth *gen = calloc(1, sizeof *gen);
    double *w = malloc(td * sizeof(double));
    double *u = malloc(td * sizeof(double));
    double *l = malloc(t * t * sizeof(double));
    double *alpha = malloc((m ? m : 1) * sizeof(double));
    double *beta = malloc((m ? m : 1) * sizeof(double));
    if (!gen || !w || !u || !l || !alpha || !beta) {
        free(gen);
        free(w);
        free(u);
        free(l);
        free(alpha);
        free(beta);
        return FAIL(NULL, MMOE_ERR_NOMEM, "cannot allocate a generator (T=%zu, d=%zu, m=%zu)", t, d,
                    m);
    }

    /* 1. orthonormal unit vectors */
    rng r;
    rng_seed(&r, cfg->seed, STREAM_VECTORS);
    for (size_t i = 0; i < td; i++)
        u[i] = rng_gauss(&r);
    orthonormalise(u, t, d, &r);

    /* 2. w_i = c * sum_j L_ij u_j */
    cholesky_equicorr(l, t, cfg->corr);
    for (size_t i = 0; i < t; i++) {
        double *wi = w + i * d;
        for (size_t k = 0; k < d; k++)
            wi[k] = 0.0;
        for (size_t j = 0; j <= i; j++) {
            double lij = l[i * t + j];
            if (lij == 0.0)
                continue;
            const double *uj = u + j * d;
            for (size_t k = 0; k < d; k++)
                wi[k] += lij * uj[k];
        }
        for (size_t k = 0; k < d; k++)
            wi[k] *= cfg->scale;
    }
    free(u);
    free(l);

    /* 3. sin parameters */
    if (cfg->alpha) {
        for (size_t j = 0; j < m; j++) {
            alpha[j] = cfg->alpha[j];
            beta[j] = cfg->beta[j];
        }
    } else {
        rng_seed(&r, cfg->seed, STREAM_SIN);
        for (size_t j = 0; j < m; j++) {
            alpha[j] = rng_gauss(&r);
            beta[j] = rng_gauss(&r);
        }
    }

    gen->d = d;
    gen->tasks = t;
    gen->m = m;
    gen->sigma = cfg->sigma;
    gen->seed = cfg->seed;
    gen->w = w;
    gen->alpha = alpha;
    gen->beta = beta;
    rng_seed(&gen->samples, cfg->seed, STREAM_SAMPLES);
    gen->err[0] = '\0';
    *out = gen;
    return MMOE_OK;
}

void mmoe_synth_free(mmoe_synth *gen)
{
    if (!gen)
        return;
    free(gen->w);
    free(gen->alpha);
    free(gen->beta);
    free(gen);
}

size_t mmoe_synth_dim(const mmoe_synth *gen)
{
    return gen ? gen->d : 0;
}

size_t mmoe_synth_num_tasks(const mmoe_synth *gen)
{
    return gen ? gen->tasks : 0;
}

size_t mmoe_synth_sin_terms(const mmoe_synth *gen)
{
    return gen ? gen->m : 0;
}

const char *mmoe_synth_last_error(const mmoe_synth *gen)
{
    return gen ? gen->err : "";
}

mmoe_status mmoe_synth_generate(mmoe_synth *gen, size_t n, float *x, float *y)
{
    if (!gen)
        return FAIL(NULL, MMOE_ERR_NULL, "gen is NULL");
    if (n == 0) {
        gen->err[0] = '\0';
        return MMOE_OK;
    }
    if (!x || !y)
        return FAIL(gen->err, MMOE_ERR_NULL, "%s is NULL", !x ? "x" : "y");
    const size_t d = gen->d, t = gen->tasks, m = gen->m;
    if (n > MMOE_SYNTH_MAX_ELEMS / d || n > MMOE_SYNTH_MAX_ELEMS / t)
        return FAIL(gen->err, MMOE_ERR_OVERFLOW,
                    "%zu samples of width %zu and %zu tasks exceed %zu floats", n, d, t,
                    MMOE_SYNTH_MAX_ELEMS);

    rng *r = &gen->samples;
    for (size_t s = 0; s < n; s++) {
        float *xs = x + s * d;
        float *ys = y + s * t;
        for (size_t k = 0; k < d; k++)
            xs[k] = (float)rng_gauss(r);
        for (size_t i = 0; i < t; i++) {
            /* The label is a function of the stored (float) input. */
            const double *wi = gen->w + i * d;
            double z = 0.0;
            for (size_t k = 0; k < d; k++)
                z += wi[k] * (double)xs[k];
            double v = z;
            for (size_t j = 0; j < m; j++)
                v += sin(gen->alpha[j] * z + gen->beta[j]);
            /* Noise is always drawn so the stream does not depend on sigma. */
            v += gen->sigma * rng_gauss(r);
            ys[i] = (float)v;
        }
    }
    gen->err[0] = '\0';
    return MMOE_OK;
}

mmoe_status mmoe_synth_reset(mmoe_synth *gen)
{
    if (!gen)
        return FAIL(NULL, MMOE_ERR_NULL, "gen is NULL");
    rng_seed(&gen->samples, gen->seed, STREAM_SAMPLES);
    gen->err[0] = '\0';
    return MMOE_OK;
}

mmoe_status mmoe_synth_weights(mmoe_synth *gen, size_t task, double *w, size_t cap)
{
    if (!gen)
        return FAIL(NULL, MMOE_ERR_NULL, "gen is NULL");
    if (!w)
        return FAIL(gen->err, MMOE_ERR_NULL, "w is NULL");
    if (task >= gen->tasks)
        return FAIL(gen->err, MMOE_ERR_RANGE, "task %zu >= task count %zu", task, gen->tasks);
    if (cap < gen->d)
        return FAIL(gen->err, MMOE_ERR_RANGE, "capacity %zu < input width %zu", cap, gen->d);
    memcpy(w, gen->w + task * gen->d, gen->d * sizeof(double));
    gen->err[0] = '\0';
    return MMOE_OK;
}

mmoe_status mmoe_synth_sin_params(mmoe_synth *gen, double *alpha, double *beta, size_t cap)
{
    if (!gen)
        return FAIL(NULL, MMOE_ERR_NULL, "gen is NULL");
    if ((alpha || beta) && cap < gen->m)
        return FAIL(gen->err, MMOE_ERR_RANGE, "capacity %zu < sin term count %zu", cap, gen->m);
    if (alpha && gen->m)
        memcpy(alpha, gen->alpha, gen->m * sizeof(double));
    if (beta && gen->m)
        memcpy(beta, gen->beta, gen->m * sizeof(double));
    gen->err[0] = '\0';
    return MMOE_OK;
}
