/* One training step: zero_grad -> forward -> loss -> backward -> optimizer step. */
#include "model_impl.h"
#include "mmoe/optimizer.h"
#include "optimizer_impl.h"

mmoe_status mmoe_model_train_step(mmoe_model *m, mmoe_optimizer *opt, size_t batch, const float *x,
                                  const int64_t *ids, const float *labels,
                                  const float *sample_weights, float *task_losses, float *total)
{
    if (!m || !opt)
        return MMOE_FAIL(m ? m->err : NULL, MMOE_ERR_NULL, "%s is NULL", m ? "optimizer" : "model");
    if (!mmoe__optimizer_belongs_to(opt, m))
        return MMOE_FAIL(m->err, MMOE_ERR_INVALID_ARG, "the optimizer belongs to another model");
    mmoe_status st;
    if ((st = mmoe_model_forward(m, batch, x, ids)) ||
        (st = mmoe_model_loss(m, labels, sample_weights, task_losses, total)) ||
        (st = mmoe_model_zero_grad(m)) || (st = mmoe_model_backward(m)))
        return st;
    st = mmoe_optimizer_step(opt);
    if (st)
        return mmoe__forward(m->err, st);
    return MMOE_OK;
}
