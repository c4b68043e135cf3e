/* Input stage. This build supports the dense-only (inactive) stage. */
#include <string.h>

#include "input.h"

mmoe_status mmoe__input_setup(mmoe__input *in, const mmoe_config *c, char *err)
{
    memset(in, 0, sizeof *in);
    in->dense = c->input_dense;
    in->out = c->input_dense;
    if (c->n_sparse || c->cross_layers || c->dnn_layers)
        return MMOE_FAIL(err, MMOE_ERR_UNSUPPORTED,
                         "sparse features, CrossNet and DNN input stages are not available in "
                         "this build");
    return MMOE_OK;
}

void mmoe__input_free(mmoe__input *in)
{
    if (in)
        mmoe__free(in->impl);
}

size_t mmoe__input_buffers(const mmoe__input *in, size_t *widths)
{
    (void)in;
    (void)widths;
    return 0;
}

void mmoe__input_declare(mmoe__input *in, mmoe__registry *params, mmoe__registry *stats)
{
    (void)in;
    (void)params;
    (void)stats;
}

void mmoe__input_init(const mmoe__input *in, float *params, float *stats, uint64_t seed)
{
    (void)in;
    (void)params;
    (void)stats;
    (void)seed;
}

mmoe_status mmoe__input_check_ids(const mmoe__input *in, size_t B, const int64_t *ids, char *err,
                                  const char *func)
{
    (void)B;
    if (in->n_ids == 0 && ids)
        return mmoe__fail(err, MMOE_ERR_INVALID_ARG, func,
                          "ids given but the model has no sparse features");
    if (in->n_ids && !ids)
        return mmoe__fail(err, MMOE_ERR_NULL, func, "ids is NULL but the model has sparse features");
    return MMOE_OK;
}

const float *mmoe__input_forward(const mmoe__input *in, const float *params, float *stats,
                                 size_t B, const float *dense, const int64_t *ids, int training,
                                 uint64_t *rng, float *const *fb, size_t *ld)
{
    (void)params;
    (void)stats;
    (void)B;
    (void)ids;
    (void)training;
    (void)rng;
    (void)fb;
    *ld = in->dense;
    return dense;
}

void mmoe__input_backward(const mmoe__input *in, const float *params, float *grads, size_t B,
                          const float *dense, const int64_t *ids, float *const *fb,
                          float *const *bb, const float *dX)
{
    (void)in;
    (void)params;
    (void)grads;
    (void)B;
    (void)dense;
    (void)ids;
    (void)fb;
    (void)bb;
    (void)dX;
}
