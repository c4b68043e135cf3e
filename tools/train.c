/*
 * mmoe train: fit the schema on the training file, build the model the
 * description and the fitted transformation give, train with mini-batches
 * from a shuffle buffer, evaluate every epoch, stop early, save the best
 * model (with its transformation), checkpoint and resume exactly.
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"

#define CMD "train"

static void usage(FILE *f)
{
    fprintf(f, "usage: mmoe train --schema FILE --config FILE --train FILE --out MODEL [options]\n"
               "\n"
               "Fit the schema on the training file (statistics, vocabularies), build the\n"
               "model the description gives (its input and task keys come from the schema),\n"
               "train it and save the model of the best validation epoch, with the fitted\n"
               "transformation, to MODEL.\n"
               "\n"
               "Inputs:\n"
               "  --schema FILE       feature schema (docs/data.md)\n"
               "  --config FILE       model description, the text of mmoe/config.h; input.*,\n"
               "                      sparse.* and the tasks' names and kinds are filled in\n"
               "  --train FILE        training data (CSV/TSV, plain or gzip)\n"
               "  --valid FILE        validation data: per-epoch metrics, early stopping, the\n"
               "                      best epoch; without it the last epoch is saved\n"
               "  --out MODEL         model file to write\n"
               "Training:\n"
               "  --epochs N          most passes over the training data [10]\n"
               "  --batch B           mini-batch rows [256]\n"
               "  --optimizer O       adam | sgd | adagrad [adam]\n"
               "  --lr R              learning rate [0.001]\n"
               "  --weight-decay W    L2 weight decay [0]\n"
               "  --clip-norm C       global gradient-norm bound, 0 = off [0]\n"
               "  --shuffle ROWS      shuffle-buffer rows (0: file order) [100000]\n"
               "  --seed S            seed of the batch order (the description's seed\n"
               "                      initialises the weights) [1]\n"
               "  --patience P        stop after P epochs without a better validation\n"
               "                      metric [3]\n"
               "  --metric M          auc (mean AUC of the binary tasks) | loss (mean validation\n"
               "                      loss: log loss or MSE) [auc when a task is binary]\n"
               "  --on-error E        malformed records: fail | skip (and count) [fail]\n"
               "  --max-record BYTES  longest record [1048576]\n"
               "Runs:\n"
               "  --checkpoint DIR    after every epoch write DIR/model.safetensors,\n"
               "                      DIR/optimizer.safetensors and DIR/state\n"
               "  --resume            continue from --checkpoint DIR: gives the model an\n"
               "                      uninterrupted run would have given\n"
               "  --threads T         BLAS threads (0: the BLAS default) [1]\n"
               "  --log FILE          one JSON object per epoch (JSON lines)\n"
               "  --quiet             no progress output\n"
               "  --help              this text\n"
               "\n"
               "Progress goes to stderr: a bar with rate and ETA on a terminal, plain lines\n"
               "otherwise; one line per epoch with the training loss and validation metrics.\n"
               "Exit status: 0 success, 1 I/O or library failure, 2 bad command line,\n"
               "3 invalid schema, description or data.\n");
}

typedef struct train_opts {
    const char *schema, *config, *train, *valid, *out, *optimizer, *metric, *on_error;
    const char *checkpoint, *log;
    size_t epochs, batch, shuffle, patience, threads, max_record;
    double lr, weight_decay, clip_norm;
    uint64_t seed;
    int resume, quiet;
} train_opts;

/* State of a run between epochs (DIR/state). */
typedef struct run_state {
    size_t epoch; /* epochs done */
    size_t best_epoch, since_best;
    double best; /* best validation score (higher is better) */
} run_state;

static char *read_text(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    size_t cap = 4096, n = 0;
    char *p = malloc(cap);
    while (p) {
        size_t got = fread(p + n, 1, cap - n - 1, f);
        n += got;
        if (got == 0)
            break;
        if (n + 1 == cap) {
            char *q = realloc(p, cap * 2);
            if (!q) {
                free(p);
                p = NULL;
                break;
            }
            p = q;
            cap *= 2;
        }
    }
    int bad = ferror(f);
    fclose(f);
    if (bad) {
        free(p);
        return NULL;
    }
    if (p)
        p[n] = '\0';
    return p;
}

static int write_state(const char *dir, const run_state *s)
{
    char path[4096], tmp[4200];
    snprintf(path, sizeof path, "%s/state", dir);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    if (!f)
        return -1;
    fprintf(f, "mmoe-train-state 1\nepoch %zu\nbest_epoch %zu\nsince_best %zu\nbest %.17g\n",
            s->epoch, s->best_epoch, s->since_best, s->best);
    if (fclose(f) != 0 || rename(tmp, path) != 0)
        return -1;
    return 0;
}

static int read_state(const char *dir, run_state *s)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/state", dir);
    char *t = read_text(path);
    if (!t)
        return -1;
    int ok = sscanf(t, "mmoe-train-state 1\nepoch %zu\nbest_epoch %zu\nsince_best %zu\nbest %lf",
                    &s->epoch, &s->best_epoch, &s->since_best, &s->best) == 4;
    free(t);
    return ok ? 0 : -1;
}

/* The seed of epoch e's batch order: independent of how the run was split. */
static uint64_t epoch_seed(uint64_t seed, size_t epoch)
{
    uint64_t z = seed * 0x9E3779B97F4A7C15ULL + (uint64_t)epoch * 0xD1B54A32D192ED03ULL;
    z = (z ^ (z >> 31)) * 0xBF58476D1CE4E5B9ULL;
    return z ^ (z >> 29);
}

/* Fit the schema over the training file. */
static int fit_file(const train_opts *o, const mmoe_schema *schema, mmoe_malformed policy,
                    mmoe_transform **out)
{
    mmoe_reader *r = NULL;
    mmoe_fit *fit = NULL;
    mmoe_status st = mmoe_reader_open(o->train, schema, o->max_record, &r);
    if (st != MMOE_OK)
        return report(CMD, o->train, st, mmoe_last_error());
    int rc = EXIT_OK;
    if ((st = mmoe_fit_create(schema, &fit)) != MMOE_OK) {
        rc = report(CMD, "fit", st, mmoe_last_error());
        goto done;
    }
    const char *h;
    size_t hl;
    if (mmoe_reader_header(r, &h, &hl) == MMOE_OK &&
        (st = mmoe_fit_header(fit, h, hl)) != MMOE_OK) {
        rc = report(CMD, o->train, st, mmoe_fit_last_error(fit));
        goto done;
    }
    progress pr;
    progress_start(&pr, "fit", o->quiet);
    uint64_t skipped = 0;
    char last_bad[512] = "";
    for (;;) {
        const char *recs[256];
        size_t lens[256], n;
        uint64_t lines[256];
        st = mmoe_reader_next(r, 256, recs, lens, lines, &n);
        if (st != MMOE_OK) {
            progress_end(&pr);
            rc = report(CMD, o->train, st, mmoe_reader_last_error(r));
            goto done;
        }
        if (n == 0)
            break;
        for (size_t i = 0; i < n; i++) {
            st = mmoe_fit_add_line(fit, recs[i], lens[i], lines[i]);
            if (st == MMOE_ERR_FORMAT && policy == MMOE_MALFORMED_SKIP) {
                skipped++;
                snprintf(last_bad, sizeof last_bad, "%s", mmoe_fit_last_error(fit));
                continue;
            }
            if (st != MMOE_OK) {
                progress_end(&pr);
                rc = report(CMD, o->train, st, mmoe_fit_last_error(fit));
                goto done;
            }
        }
        uint64_t done_b, total;
        mmoe_reader_progress(r, &done_b, &total);
        progress_update(&pr, done_b, total, mmoe_fit_rows(fit));
    }
    progress_end(&pr);
    if (skipped)
        fprintf(stderr, "mmoe train: fit: skipped %llu malformed records (last: %s)\n",
                (unsigned long long)skipped, last_bad);
    if ((st = mmoe_fit_finish(fit, out)) != MMOE_OK)
        rc = report(CMD, "fit", st, mmoe_last_error());
done:
    mmoe_fit_free(fit);
    mmoe_reader_close(r);
    return rc;
}

/* Build model and optimizer: fresh, or from the checkpoint. */
static int build(const train_opts *o, const mmoe_transform *tf, mmoe_model **model,
                 mmoe_optimizer **opt)
{
    mmoe_status st;
    char *text = read_text(o->config);
    if (!text) {
        fprintf(stderr, "mmoe train: cannot read %s: %s\n", o->config, strerror(errno));
        return EXIT_FAIL;
    }
    mmoe_config *cfg = NULL;
    int rc = EXIT_OK;
    if ((st = mmoe_config_create(&cfg)) != MMOE_OK ||
        (st = mmoe_config_parse(cfg, text)) != MMOE_OK) {
        rc = report(CMD, o->config, st, cfg ? mmoe_config_last_error(cfg) : mmoe_last_error());
        goto done;
    }
    if ((st = mmoe_transform_configure(tf, cfg)) != MMOE_OK) {
        rc = report(CMD, o->config, st, mmoe_last_error());
        goto done;
    }
    if ((st = mmoe_model_create(cfg, model)) != MMOE_OK) {
        rc = report(CMD, "model", st, mmoe_last_error());
        goto done;
    }
    if ((st = mmoe_model_set_transform(*model, tf)) != MMOE_OK) {
        rc = report(CMD, "model", st, mmoe_model_last_error(*model));
        goto done;
    }
    static const struct {
        const char *name;
        mmoe_optimizer_kind kind;
    } kinds[] = {{"adam", MMOE_OPTIMIZER_ADAM},
                 {"sgd", MMOE_OPTIMIZER_SGD},
                 {"adagrad", MMOE_OPTIMIZER_ADAGRAD}};
    size_t k = 0;
    while (k < 3 && strcmp(kinds[k].name, o->optimizer) != 0)
        k++;
    if ((st = mmoe_optimizer_create(*model, kinds[k].kind, opt)) != MMOE_OK ||
        (st = mmoe_optimizer_set(*opt, MMOE_OPT_LEARNING_RATE, o->lr)) != MMOE_OK ||
        (st = mmoe_optimizer_set(*opt, MMOE_OPT_WEIGHT_DECAY, o->weight_decay)) != MMOE_OK ||
        (st = mmoe_optimizer_set(*opt, MMOE_OPT_CLIP_NORM, o->clip_norm)) != MMOE_OK) {
        rc = report(CMD, "optimizer", st,
                    *opt ? mmoe_optimizer_last_error(*opt) : mmoe_last_error());
        goto done;
    }
done:
    free(text);
    mmoe_config_free(cfg);
    return rc;
}

int cmd_train(int argc, char **argv)
{
    train_opts o = {.optimizer = "adam",
                    .on_error = "fail",
                    .epochs = 10,
                    .batch = 256,
                    .shuffle = 100000,
                    .patience = 3,
                    .threads = 1,
                    .lr = 0.001,
                    .seed = 1};
    const cli_opt opts[] = {
        {"--schema", OPT_STR, &o.schema, 0, 0},
        {"--config", OPT_STR, &o.config, 0, 0},
        {"--train", OPT_STR, &o.train, 0, 0},
        {"--valid", OPT_STR, &o.valid, 0, 0},
        {"--out", OPT_STR, &o.out, 0, 0},
        {"--optimizer", OPT_STR, &o.optimizer, 0, 0},
        {"--metric", OPT_STR, &o.metric, 0, 0},
        {"--on-error", OPT_STR, &o.on_error, 0, 0},
        {"--checkpoint", OPT_STR, &o.checkpoint, 0, 0},
        {"--log", OPT_STR, &o.log, 0, 0},
        {"--epochs", OPT_SIZE, &o.epochs, 1, 1e6},
        {"--batch", OPT_SIZE, &o.batch, 1, 1 << 20},
        {"--shuffle", OPT_SIZE, &o.shuffle, 0, 1e9},
        {"--patience", OPT_SIZE, &o.patience, 1, 1e6},
        {"--threads", OPT_SIZE, &o.threads, 0, 1024},
        {"--max-record", OPT_SIZE, &o.max_record, 1, 1 << 30},
        {"--lr", OPT_REAL, &o.lr, 1e-12, 1e3},
        {"--weight-decay", OPT_REAL, &o.weight_decay, 0, 1e3},
        {"--clip-norm", OPT_REAL, &o.clip_norm, 0, 1e12},
        {"--seed", OPT_U64, &o.seed, 0, 0},
        {"--resume", OPT_FLAG, &o.resume, 0, 0},
        {"--quiet", OPT_FLAG, &o.quiet, 0, 0},
    };
    int rc = parse_opts(CMD, argc, argv, opts, sizeof opts / sizeof opts[0], usage);
    if (rc)
        return rc == OPTS_HELP ? EXIT_OK : rc;
    mmoe_malformed policy;
    if (!o.schema || !o.config || !o.train || !o.out) {
        fprintf(stderr, "mmoe train: --schema, --config, --train and --out are required "
                        "(see mmoe train --help)\n");
        return EXIT_USAGE;
    }
    if ((rc = run_options(CMD, o.on_error, &policy, o.threads)) != 0)
        return rc;
    if (strcmp(o.optimizer, "adam") && strcmp(o.optimizer, "sgd") &&
        strcmp(o.optimizer, "adagrad")) {
        fprintf(stderr, "mmoe train: --optimizer: '%s' is not adam, sgd or adagrad\n", o.optimizer);
        return EXIT_USAGE;
    }
    if (o.metric && strcmp(o.metric, "auc") && strcmp(o.metric, "loss")) {
        fprintf(stderr, "mmoe train: --metric: '%s' is not auc or loss\n", o.metric);
        return EXIT_USAGE;
    }
    if (o.resume && !o.checkpoint) {
        fprintf(stderr, "mmoe train: --resume needs --checkpoint DIR\n");
        return EXIT_USAGE;
    }

    mmoe_schema *schema = NULL;
    mmoe_transform *tf = NULL;
    mmoe_model *model = NULL;
    mmoe_optimizer *opt = NULL;
    mmoe_workspace *ws = NULL;
    mmoe_batcher *tb = NULL;
    FILE *log = NULL;
    double *loss_sum = NULL;
    task_metrics *met = NULL;
    evalbuf ev = {0};
    run_state rs = {0, 0, 0, -INFINITY};
    char ckpt_model[4096] = "", ckpt_opt[4096] = "";
    mmoe_status st;
    const double t_start = now_seconds();

    if (o.checkpoint) {
        snprintf(ckpt_model, sizeof ckpt_model, "%s/model.safetensors", o.checkpoint);
        snprintf(ckpt_opt, sizeof ckpt_opt, "%s/optimizer.safetensors", o.checkpoint);
        if (mkdir(o.checkpoint, 0777) != 0 && errno != EEXIST) {
            fprintf(stderr, "mmoe train: cannot create %s: %s\n", o.checkpoint, strerror(errno));
            return EXIT_FAIL;
        }
    }
    if ((st = mmoe_schema_load(o.schema, &schema)) != MMOE_OK) {
        rc = report(CMD, "schema", st, mmoe_last_error());
        goto done;
    }
    if (o.resume) {
        /* the checkpoint is the model of the last finished epoch, with its
           transformation and batch-norm statistics; the optimizer file has
           the moments, step count and hyper-parameters */
        if (read_state(o.checkpoint, &rs) != 0) {
            fprintf(stderr, "mmoe train: --resume: no valid %s/state\n", o.checkpoint);
            rc = EXIT_INPUT;
            goto done;
        }
        if ((st = mmoe_model_load(ckpt_model, &model)) != MMOE_OK) {
            rc = report(CMD, ckpt_model, st, mmoe_last_error());
            goto done;
        }
        if (!mmoe_model_get_transform(model) ||
            (st = mmoe_transform_clone(mmoe_model_get_transform(model), &tf)) != MMOE_OK) {
            rc = report(CMD, ckpt_model, MMOE_ERR_FORMAT, "the checkpoint has no transformation");
            goto done;
        }
        mmoe_optimizer_kind kind = strcmp(o.optimizer, "sgd") == 0       ? MMOE_OPTIMIZER_SGD
                                   : strcmp(o.optimizer, "adagrad") == 0 ? MMOE_OPTIMIZER_ADAGRAD
                                                                         : MMOE_OPTIMIZER_ADAM;
        if ((st = mmoe_optimizer_create(model, kind, &opt)) != MMOE_OK) {
            rc = report(CMD, "optimizer", st, mmoe_last_error());
            goto done;
        }
        if ((st = mmoe_optimizer_load(opt, ckpt_opt)) != MMOE_OK) {
            rc = report(CMD, ckpt_opt, st, mmoe_optimizer_last_error(opt));
            goto done;
        }
        fprintf(stderr, "mmoe train: resuming after epoch %zu (best epoch %zu)\n", rs.epoch,
                rs.best_epoch);
    } else {
        if ((rc = fit_file(&o, schema, policy, &tf)) != EXIT_OK)
            goto done;
        if ((rc = build(&o, tf, &model, &opt)) != EXIT_OK)
            goto done;
    }
    const size_t T = mmoe_model_num_tasks(model);
    size_t n_binary = 0;
    for (size_t k = 0; k < T; k++) {
        mmoe_task_kind kind;
        mmoe_model_task(model, k, NULL, &kind);
        n_binary += kind == MMOE_TASK_BINARY;
    }
    const int use_auc = o.metric ? strcmp(o.metric, "auc") == 0 : n_binary > 0;
    if (use_auc && n_binary == 0) {
        fprintf(stderr, "mmoe train: --metric auc needs a binary task\n");
        rc = EXIT_USAGE;
        goto done;
    }
    const size_t n_params = mmoe_model_num_scalars(model);
    loss_sum = calloc(T, sizeof *loss_sum);
    met = calloc(T, sizeof *met);
    if (!loss_sum || !met) {
        rc = report(CMD, "setup", MMOE_ERR_NOMEM, "out of memory");
        goto done;
    }
    if ((st = mmoe_workspace_create(model, 1024, &ws)) != MMOE_OK ||
        (st = mmoe_batcher_create(tf, o.train, o.batch, o.shuffle, 0, policy, o.max_record, &tb)) !=
            MMOE_OK) {
        rc = report(CMD, "setup", st, mmoe_last_error());
        goto done;
    }
    if (o.log && !(log = fopen(o.log, o.resume ? "a" : "w"))) {
        fprintf(stderr, "mmoe train: cannot write %s: %s\n", o.log, strerror(errno));
        rc = EXIT_FAIL;
        goto done;
    }
    fprintf(stderr,
            "mmoe train: %llu training records fitted; %zu dense inputs, %zu ids, %zu tasks; "
            "%zu parameters; shuffle buffer %zu rows (%.1f MiB held by the stream)\n",
            (unsigned long long)mmoe_transform_rows(tf), mmoe_transform_dense_dim(tf),
            mmoe_transform_num_ids(tf), T, n_params, o.shuffle,
            (double)mmoe_batcher_memory(tb) / 1048576.0);
    for (size_t epoch = rs.epoch + 1; epoch <= o.epochs; epoch++) {
        if (o.valid && rs.since_best >= o.patience)
            break;
        const double te = now_seconds();
        if ((st = mmoe_batcher_restart(tb, epoch_seed(o.seed, epoch))) != MMOE_OK) {
            rc = report(CMD, o.train, st, mmoe_batcher_last_error(tb));
            goto done;
        }
        memset(loss_sum, 0, T * sizeof *loss_sum);
        uint64_t rows = 0;
        char label[32];
        snprintf(label, sizeof label, "epoch %zu", epoch);
        progress pr;
        progress_start(&pr, label, o.quiet);
        for (;;) {
            size_t n;
            const float *x, *y, *w;
            const int64_t *ids;
            if ((st = mmoe_batcher_next(tb, &n, &x, &ids, &y, &w)) != MMOE_OK) {
                progress_end(&pr);
                rc = report(CMD, o.train, st, mmoe_batcher_last_error(tb));
                goto done;
            }
            if (n == 0)
                break;
            float tl[MMOE_MAX_TASKS];
            st = mmoe_model_train_step(model, opt, n, x, ids, y, w, tl, NULL);
            if (st != MMOE_OK) {
                progress_end(&pr);
                rc = report(CMD, "mmoe_model_train_step", st, mmoe_model_last_error(model));
                goto done;
            }
            for (size_t k = 0; k < T; k++)
                loss_sum[k] += (double)tl[k] * (double)n;
            rows += n;
            uint64_t done_b, total;
            mmoe_reader_progress(mmoe_batcher_reader(tb), &done_b, &total);
            progress_update(&pr, done_b, total, rows);
        }
        progress_end(&pr);
        if (rows == 0) {
            fprintf(stderr, "mmoe train: %s has no usable record\n", o.train);
            rc = EXIT_INPUT;
            goto done;
        }
        const double train_s = now_seconds() - te;
        double score = NAN;
        uint64_t vskipped = 0;
        if (o.valid) {
            ev.n = 0;
            if ((rc = evaluate_file(CMD, model, ws, o.valid, 1024, policy, &ev, &vskipped, 1)) != 0)
                goto done;
            evalbuf_metrics(&ev, model, met);
            double sum = 0.0;
            size_t cnt = 0;
            for (size_t k = 0; k < T; k++) {
                mmoe_task_kind kind;
                mmoe_model_task(model, k, NULL, &kind);
                if (use_auc && kind == MMOE_TASK_BINARY)
                    sum += met[k].auc, cnt++;
                else if (!use_auc)
                    sum -= kind == MMOE_TASK_BINARY ? met[k].logloss : met[k].mse, cnt++;
            }
            score = cnt ? sum / (double)cnt : NAN;
        }
        int improved = !o.valid || score > rs.best;
        if (improved) {
            rs.best = o.valid ? score : rs.best;
            rs.best_epoch = epoch;
            rs.since_best = 0;
            if ((st = mmoe_model_save(model, o.out)) != MMOE_OK) {
                rc = report(CMD, o.out, st, mmoe_last_error());
                goto done;
            }
        } else {
            rs.since_best++;
        }
        rs.epoch = epoch;
        /* the epoch line */
        fprintf(stderr, "epoch %zu  %.0f rows/s  train loss", epoch,
                train_s > 0 ? (double)rows / train_s : 0.0);
        for (size_t k = 0; k < T; k++) {
            const char *name;
            mmoe_model_task(model, k, &name, NULL);
            fprintf(stderr, " %s %.5f", name, loss_sum[k] / (double)rows);
        }
        if (o.valid) {
            fprintf(stderr, "  valid");
            for (size_t k = 0; k < T; k++) {
                const char *name;
                mmoe_task_kind kind;
                mmoe_model_task(model, k, &name, &kind);
                if (kind == MMOE_TASK_BINARY)
                    fprintf(stderr, " %s auc %.5f logloss %.5f", name, met[k].auc, met[k].logloss);
                else
                    fprintf(stderr, " %s mse %.5f", name, met[k].mse);
            }
        }
        fprintf(stderr, "%s\n", improved && o.valid ? "  *" : "");
        if (log) {
            fprintf(log,
                    "{\"epoch\":%zu,\"seconds\":%.3f,\"rows\":%llu,\"skipped\":%llu,"
                    "\"improved\":%s,\"tasks\":[",
                    epoch, train_s, (unsigned long long)rows,
                    (unsigned long long)mmoe_batcher_skipped(tb), improved ? "true" : "false");
            for (size_t k = 0; k < T; k++) {
                const char *name;
                mmoe_task_kind kind;
                mmoe_model_task(model, k, &name, &kind);
                fprintf(log, "%s{\"name\":\"%s\",\"train_loss\":%.9g", k ? "," : "", name,
                        loss_sum[k] / (double)rows);
                if (o.valid) {
                    double v[3] = {met[k].auc, met[k].logloss, met[k].mse};
                    const char *nm[3] = {"valid_auc", "valid_logloss", "valid_mse"};
                    for (int j = 0; j < 3; j++)
                        if (isfinite(v[j]))
                            fprintf(log, ",\"%s\":%.9g", nm[j], v[j]);
                }
                fputc('}', log);
            }
            fprintf(log, "]}\n");
            fflush(log);
        }
        if (o.checkpoint) {
            if ((st = mmoe_model_save(model, ckpt_model)) != MMOE_OK ||
                (st = mmoe_optimizer_save(opt, ckpt_opt)) != MMOE_OK) {
                rc = report(CMD, "checkpoint", st, mmoe_last_error());
                goto done;
            }
            if (write_state(o.checkpoint, &rs) != 0) {
                fprintf(stderr, "mmoe train: cannot write %s/state\n", o.checkpoint);
                rc = EXIT_FAIL;
                goto done;
            }
        }
    }
    if (mmoe_batcher_skipped(tb))
        fprintf(stderr,
                "mmoe train: skipped %llu malformed training records in the last epoch "
                "(last: %s)\n",
                (unsigned long long)mmoe_batcher_skipped(tb), mmoe_batcher_last_error(tb));
    fprintf(stderr, "mmoe train: %s: epoch %zu%s (%.1f s)\n", o.out, rs.best_epoch,
            o.valid ? " (best validation)" : "", now_seconds() - t_start);
    rc = EXIT_OK;
done:
    if (log)
        fclose(log);
    evalbuf_free(&ev);
    free(loss_sum);
    free(met);
    mmoe_batcher_free(tb);
    mmoe_workspace_free(ws);
    mmoe_optimizer_free(opt);
    mmoe_model_free(model);
    mmoe_transform_free(tf);
    mmoe_schema_free(schema);
    return rc;
}
