/*
 * Finite-difference gradient checking for the libmmoe test suites.
 *
 * A check perturbs entries of a float buffer (parameters or inputs) in place,
 * evaluates a caller-supplied scalar loss at p[i] + eps and p[i] - eps, and
 * compares the central difference with the analytic gradient. Buffers are
 * restored exactly after every probe.
 */
#ifndef MMOE_TESTS_GRADCHECK_H
#define MMOE_TESTS_GRADCHECK_H

#include <stddef.h>

/* Evaluate the scalar loss at the current parameters/inputs. */
typedef double (*gc_loss_fn)(void *ctx);

/*
 * Central differences on p[0..n) (perturbed in place and restored) against
 * the analytic gradients g[0..n).
 *
 * The step actually used for entry i is the float-rounded difference
 * (p[i] + eps) - (p[i] - eps), so rounding of the perturbed value does not
 * bias the estimate.
 *
 * Checks at most max_checks entries: all of them if n <= max_checks (or
 * max_checks == 0), otherwise an evenly strided subset that includes the
 * first and the last entry (only the first when max_checks == 1).
 *
 * Returns the normalised error ||a - num||_2 / max(||a||_2 + ||num||_2, 1e-12)
 * over the checked entries (0 when n == 0). If report is not NULL and
 * report_cap > 0, writes a one-line summary: the error, the number of
 * entries checked, and the worst entry (largest |a - num|) with its index,
 * analytic and numeric values.
 */
double gc_check(float *p, const float *g, size_t n, gc_loss_fn f, void *ctx, double eps,
                size_t max_checks, char *report, size_t report_cap);

/*
 * Check an input gradient. This is exactly gc_check applied to the input
 * buffer x[0..n) and the analytic input gradient dx[0..n): f must read x
 * (e.g. the data of the input tensor) when it runs the forward pass.
 */
double gc_check_input(float *x, const float *dx, size_t n, gc_loss_fn f, void *ctx, double eps,
                      size_t max_checks, char *report, size_t report_cap);

/*
 * A whole model's loss on a fixed batch, as a gc_loss_fn: ctx is a
 * gc_model_batch; each call runs mmoe_model_forward and mmoe_model_loss
 * (asserting success) and returns the total loss.
 */
struct mmoe_model;
typedef struct gc_model_batch {
    struct mmoe_model *model;
    size_t batch;
    const float *x, *labels, *sample_weights; /* sample_weights may be NULL */
} gc_model_batch;

double gc_model_loss(void *ctx);

/*
 * Give every ".bias" parameter of a model values in [0.05, 0.3) (fresh
 * biases are zero, which puts ReLU units exactly on their kink) and
 * multiply the parameters whose name contains scale_name (may be NULL)
 * by scale.
 */
void gc_model_prepare(struct mmoe_model *m, unsigned seed, const char *scale_name, float scale);

/*
 * The description text of m, checked to parse back into a description
 * whose text is the same; returns a copy of that description (free with
 * mmoe_config_free) and the text in *text (free with mmoe_string_free).
 */
struct mmoe_config *gc_check_text(struct mmoe_model *m, char **text);

/*
 * Save m to a buffer, load it back and assert that predict gives the same
 * bits on x (rows rows of the model's input width, rows <= 64) and on its
 * first row alone.
 */
void gc_check_reload(struct mmoe_model *m, size_t rows, const float *x);

/*
 * Batch-1 predict of m skips the experts whose parameters start with
 * prefix ("experts.3."): batch 1 agrees with the batch path on every row
 * of x (rows <= 64, to 1e-5 relative); then those parameters (n_params
 * tensors) are filled with NaN, and batch-1 predict of row 0 must give the
 * same bits while the batch path (2 rows: every expert) reports NONFINITE.
 */
void gc_check_skip(struct mmoe_model *m, const char *prefix, size_t n_params, size_t rows,
                   const float *x);

/* Fill x[0..n) with deterministic pseudo-random values in [lo, hi) from seed. */
void gc_fill_uniform(float *x, size_t n, unsigned seed, float lo, float hi);

#endif /* MMOE_TESTS_GRADCHECK_H */
