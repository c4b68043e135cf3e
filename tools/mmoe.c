/*
 * mmoe: train, evaluate, serve and inspect libmmoe models from delimited
 * text files, without writing C (docs/cli.md).
 *
 *     mmoe train   --schema S --config C --train FILE [--valid FILE] --out MODEL
 *     mmoe eval    --model MODEL --data FILE
 *     mmoe predict --model MODEL [--data FILE] [--out FILE]
 *     mmoe inspect --model MODEL [--data FILE] [--plot PNG]
 */
#include <stdio.h>
#include <string.h>

#include "cli.h"

static void usage(FILE *f)
{
    fprintf(f, "usage: mmoe COMMAND [options]\n"
               "\n"
               "Commands:\n"
               "  train     fit a schema on training data, train a model, save it (with its\n"
               "            preprocessing) to a model file\n"
               "  eval      metrics of a model file on a labelled data file\n"
               "  predict   one line of per-task outputs for every record of a data file\n"
               "  inspect   a model file's description, parameters, schema and gate weights\n"
               "\n"
               "mmoe COMMAND --help describes each command. mmoe --version prints the version.\n"
               "Exit status: 0 success, 1 I/O or library failure, 2 bad command line,\n"
               "3 invalid input (schema, model description, model file or data).\n");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return EXIT_USAGE;
    }
    const char *c = argv[1];
    if (strcmp(c, "--help") == 0 || strcmp(c, "-h") == 0 || strcmp(c, "help") == 0) {
        usage(stdout);
        return EXIT_OK;
    }
    if (strcmp(c, "--version") == 0) {
        printf("mmoe (libmmoe %s, BLAS %s)\n", mmoe_version_string(), mmoe_blas_name());
        return EXIT_OK;
    }
    if (strcmp(c, "train") == 0)
        return cmd_train(argc - 1, argv + 1);
    if (strcmp(c, "eval") == 0)
        return cmd_eval(argc - 1, argv + 1);
    if (strcmp(c, "predict") == 0)
        return cmd_predict(argc - 1, argv + 1);
    if (strcmp(c, "inspect") == 0)
        return cmd_inspect(argc - 1, argv + 1);
    fprintf(stderr, "mmoe: unknown command '%s'\n", c);
    usage(stderr);
    return EXIT_USAGE;
}
