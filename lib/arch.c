/* The names of the architectures and activations: the one place they are spelled. */
#include <stdio.h>
#include <string.h>

#include "activation.h"
#include "config_impl.h"

static const struct {
    const char *name, *label;
} archs[] = {
    [MMOE_ARCH_MMOE] = {"mmoe", "MMoE"},
    [MMOE_ARCH_OMOE] = {"omoe", "OMoE"},
    [MMOE_ARCH_SHARED_BOTTOM] = {"shared_bottom", "Shared-Bottom"},
    [MMOE_ARCH_SINGLE_TASK] = {"single_task", "Single-Task"},
    [MMOE_ARCH_L2_CONSTRAINED] = {"l2_constrained", "L2-Constrained"},
    [MMOE_ARCH_CROSS_STITCH] = {"cross_stitch", "Cross-Stitch"},
    [MMOE_ARCH_TENSOR_FACTORIZATION] = {"tensor_factorization", "Tensor-Factorization"},
    [MMOE_ARCH_CGC] = {"cgc", "CGC"},
    [MMOE_ARCH_PLE] = {"ple", "PLE"},
    [MMOE_ARCH_STACKED_MMOE] = {"stacked_mmoe", "Stacked MMoE"},
};
#define N_ARCH (sizeof archs / sizeof archs[0])

_Static_assert(N_ARCH == MMOE__ARCH_COUNT, "every architecture needs a name (lib/arch.c)");

const char *mmoe_arch_name(mmoe_arch arch)
{
    return (size_t)arch < N_ARCH ? archs[arch].name : NULL;
}

const char *mmoe_arch_label(mmoe_arch arch)
{
    return (size_t)arch < N_ARCH ? archs[arch].label : NULL;
}

size_t mmoe_arch_count(void)
{
    return N_ARCH;
}

/* "a, b, c" of the known names into buf. */
static void list_names(char *buf, size_t cap, const char *(*name_of)(int), int n)
{
    size_t pos = 0;
    buf[0] = '\0';
    for (int i = 0; i < n && pos < cap; i++) {
        int r = snprintf(buf + pos, cap - pos, "%s%s", i ? ", " : "", name_of(i));
        if (r < 0)
            break;
        pos += (size_t)r;
    }
}

static const char *arch_name_i(int i)
{
    return mmoe_arch_name((mmoe_arch)i);
}

static const char *act_name_i(int i)
{
    return mmoe__act_name((mmoe_activation)i);
}

int mmoe__arch_parse(const char *name)
{
    for (size_t i = 0; i < N_ARCH; i++)
        if (strcmp(name, archs[i].name) == 0)
            return (int)i;
    return -1;
}

void mmoe__arch_list(char *buf, size_t cap)
{
    list_names(buf, cap, arch_name_i, (int)N_ARCH);
}

mmoe_status mmoe_arch_from_name(const char *name, mmoe_arch *out)
{
    if (!name || !out)
        return MMOE_FAIL(NULL, MMOE_ERR_NULL, "%s is NULL", name ? "out" : "name");
    int a = mmoe__arch_parse(name);
    if (a < 0) {
        char known[256];
        mmoe__arch_list(known, sizeof known);
        return MMOE_FAIL(NULL, MMOE_ERR_INVALID_ARG, "architecture '%.64s' unknown (%s)", name,
                         known);
    }
    *out = (mmoe_arch)a;
    return MMOE_OK;
}

const char *mmoe_activation_name(mmoe_activation act)
{
    return mmoe__act_name(act);
}

mmoe_status mmoe_activation_from_name(const char *name, mmoe_activation *out)
{
    if (!name || !out)
        return MMOE_FAIL(NULL, MMOE_ERR_NULL, "%s is NULL", name ? "out" : "name");
    int a = mmoe__act_parse(name);
    if (a < 0) {
        char known[128];
        list_names(known, sizeof known, act_name_i, MMOE_ACT_TANH + 1);
        return MMOE_FAIL(NULL, MMOE_ERR_INVALID_ARG, "activation '%.64s' unknown (%s)", name,
                         known);
    }
    *out = (mmoe_activation)a;
    return MMOE_OK;
}
