/*
 * Fuzz target for the description parser: any text either parses or fails
 * with MMOE_ERR_CONFIG / MMOE_ERR_VERSION leaving the description as it
 * was; a text that parses round-trips (parse -> text -> parse gives the
 * same text), and every key's value reads back and sets again unchanged.
 * Built with -fsanitize=fuzzer (meson -Dfuzzing=true, clang) it is a
 * libFuzzer binary; otherwise tests/io/fuzz_replay.c drives it over the
 * committed corpus as an ordinary test.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mmoe/mmoe.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char *text_of(const mmoe_config *c)
{
    char *t = NULL;
    if (mmoe_config_to_string(c, &t) != MMOE_OK)
        __builtin_trap();
    return t;
}

/* Every key of c reads back and sets again without changing the text. */
static void check_keys(mmoe_config *c, const char *text)
{
    char key[64], value[256];
    for (size_t i = 0; mmoe_config_key_at(i); i++) {
        const char *tmpl = mmoe_config_key_at(i);
        const char *k = strstr(tmpl, ".K.");
        for (size_t idx = 0; idx < (k ? 3 : 1); idx++) {
            if (k)
                snprintf(key, sizeof key, "%.*s.%zu.%s", (int)(k - tmpl), tmpl, idx, k + 3);
            else
                snprintf(key, sizeof key, "%s", tmpl);
            if (mmoe_config_get(c, key, value, sizeof value) != MMOE_OK)
                continue; /* an entry beyond the count */
            if (strcmp(key, "input.dense") == 0 && strcmp(value, "0") == 0)
                continue; /* not set: no value to set */
            if (mmoe_config_set(c, key, value) != MMOE_OK)
                __builtin_trap();
        }
    }
    char *again = text_of(c);
    if (strcmp(text, again) != 0)
        __builtin_trap();
    mmoe_string_free(again);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    if (!text)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    mmoe_config *c = NULL, *d = NULL;
    if (mmoe_config_create(&c) != MMOE_OK || mmoe_config_create(&d) != MMOE_OK)
        __builtin_trap();
    char *before = text_of(c);
    mmoe_status st = mmoe_config_parse(c, text);
    if (st != MMOE_OK) {
        /* A refused text changes nothing and says why. */
        char *after = text_of(c);
        if ((st != MMOE_ERR_CONFIG && st != MMOE_ERR_VERSION) || strcmp(before, after) != 0 ||
            mmoe_config_last_error(c)[0] == '\0')
            __builtin_trap();
        mmoe_string_free(after);
    } else {
        char *t1 = text_of(c);
        if (mmoe_config_parse(d, t1) != MMOE_OK)
            __builtin_trap();
        char *t2 = text_of(d);
        if (strcmp(t1, t2) != 0)
            __builtin_trap();
        check_keys(d, t2);
        st = mmoe_config_validate(c);
        if (st != MMOE_OK && st != MMOE_ERR_CONFIG)
            __builtin_trap();
        mmoe_string_free(t1);
        mmoe_string_free(t2);
    }
    mmoe_string_free(before);
    mmoe_config_free(c);
    mmoe_config_free(d);
    free(text);
    return 0;
}
