/* tests/check-status.c: the error vocabulary of engine/status.c: status names, lsc_error_set,
 * lsc_error_prefix (how a file name is added as an error rises), and lsc_escape_name (names from files
 * must never carry control characters to a terminal). No I/O.
 */
#include <check.h>
#include <string.h>

#include "pool.h"
#include "status.h"

/* lsc_name_index: the one lookup behind every name table's parse. */
START_TEST(test_name_index)
{
    static const char *const names[] = {"a", "bb", "a-b"};
    ck_assert_int_eq(lsc_name_index(names, 3, "a"), 0);
    ck_assert_int_eq(lsc_name_index(names, 3, "a-b"), 2);
    ck_assert_int_eq(lsc_name_index(names, 3, "b"), -1);
    ck_assert_int_eq(lsc_name_index(names, 3, "A"), -1);
    ck_assert_int_eq(lsc_name_index(names, 3, ""), -1);
    ck_assert_int_eq(lsc_name_index(names, 3, NULL), -1);
    ck_assert_int_eq(lsc_name_index(names, 2, "a-b"), -1); /* only the first n are looked at */
}
END_TEST

START_TEST(test_names)
{
    for (int i = 0; i < LSC_STATUS_COUNT; i++) {
        const char *n = lsc_status_name((lsc_status)i);
        ck_assert_ptr_nonnull(n);
        ck_assert_uint_gt(strlen(n), 0);
        for (int j = 0; j < i; j++)
            ck_assert_str_ne(n, lsc_status_name((lsc_status)j));
    }
    ck_assert_str_eq(lsc_status_name(LSC_OK), "ok");
    ck_assert_str_eq(lsc_status_name(LSC_ERR_FORMAT), "malformed input");
    ck_assert_str_eq(lsc_status_name(LSC_STATUS_COUNT), "unknown error");
    ck_assert_str_eq(lsc_status_name((lsc_status)-1), "unknown error");
}
END_TEST

START_TEST(test_set_and_clear)
{
    lsc_error e;
    lsc_error_clear(&e);
    ck_assert_int_eq(e.code, LSC_OK);
    ck_assert_str_eq(e.msg, "");
    ck_assert_int_eq(lsc_error_set(&e, LSC_ERR_IO, "cannot open '%s': %s", "x.safetensors", "no such file"),
                     LSC_ERR_IO);
    ck_assert_int_eq(e.code, LSC_ERR_IO);
    ck_assert_str_eq(e.msg, "cannot open 'x.safetensors': no such file");
    /* NULL error: still returns the code, touches nothing */
    ck_assert_int_eq(lsc_error_set(NULL, LSC_ERR_NOMEM, "out of memory"), LSC_ERR_NOMEM);
    lsc_error_clear(NULL);
    lsc_error_prefix(NULL, "x");
    /* a message longer than the buffer is truncated, NUL-terminated */
    char big[3000];
    memset(big, 'a', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    lsc_error_set(&e, LSC_ERR_FORMAT, "%s", big);
    ck_assert_uint_eq(strlen(e.msg), LSC_ERROR_MSG_MAX - 1);
    lsc_error_clear(&e);
    ck_assert_int_eq(e.code, LSC_OK);
    ck_assert_str_eq(e.msg, "");
}
END_TEST

START_TEST(test_prefix)
{
    lsc_error e;
    lsc_error_set(&e, LSC_ERR_FORMAT, "tensor '%s': bad shape", "a");
    lsc_error_prefix(&e, "'%s'", "x.safetensors");
    ck_assert_str_eq(e.msg, "'x.safetensors': tensor 'a': bad shape");
    ck_assert_int_eq(e.code, LSC_ERR_FORMAT); /* the code is kept */
    lsc_error_prefix(&e, "import");
    ck_assert_str_eq(e.msg, "import: 'x.safetensors': tensor 'a': bad shape");

    /* a long prefix truncates the old message, never overruns */
    char big[2000];
    memset(big, 'p', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    lsc_error_set(&e, LSC_ERR_IO, "old");
    lsc_error_prefix(&e, "%s", big);
    ck_assert_uint_eq(strlen(e.msg), LSC_ERROR_MSG_MAX - 1);
    ck_assert_int_eq(e.msg[0], 'p');
    ck_assert_int_eq(e.msg[LSC_ERROR_MSG_MAX - 2], 'p');

    /* prefix just short of the limit: ": old" is cut where the room ends */
    memset(big, 'q', LSC_ERROR_MSG_MAX - 4);
    big[LSC_ERROR_MSG_MAX - 4] = '\0';
    lsc_error_set(&e, LSC_ERR_IO, "old");
    lsc_error_prefix(&e, "%s", big);
    ck_assert_uint_eq(strlen(e.msg), LSC_ERROR_MSG_MAX - 1);
    ck_assert_str_eq(e.msg + LSC_ERROR_MSG_MAX - 4, ": o");

    /* prefixing an empty message */
    lsc_error_clear(&e);
    lsc_error_prefix(&e, "x");
    ck_assert_str_eq(e.msg, "x: ");
}
END_TEST

START_TEST(test_escape)
{
    char buf[64];
    ck_assert_str_eq(lsc_escape_name(buf, sizeof buf, "a.lora_A.weight"), "a.lora_A.weight");
    ck_assert_str_eq(lsc_escape_name(buf, sizeof buf, "a\nb\tc\rd\\e"), "a\\nb\\tc\\rd\\\\e");
    ck_assert_str_eq(lsc_escape_name(buf, sizeof buf, "\x1b[31mred"), "\\x1b[31mred");
    ck_assert_str_eq(lsc_escape_name(buf, sizeof buf, "del\x7f"), "del\\x7f");
    ck_assert_str_eq(lsc_escape_name(buf, sizeof buf, "\x01"), "\\x01");
    /* UTF-8 passes through unchanged */
    ck_assert_str_eq(lsc_escape_name(buf, sizeof buf, "caf\xc3\xa9"), "caf\xc3\xa9");
    ck_assert_str_eq(lsc_escape_name(buf, sizeof buf, ""), "");
    ck_assert_str_eq(lsc_escape_name(buf, sizeof buf, NULL), "");
    /* no control byte survives, whatever the input */
    char all[256];
    for (int i = 1; i < 256; i++)
        all[i - 1] = (char)i;
    all[255] = '\0';
    char out[1024];
    lsc_escape_name(out, sizeof out, all);
    for (const unsigned char *p = (const unsigned char *)out; *p; p++)
        ck_assert_msg(*p >= 0x20 && *p != 0x7f, "control byte 0x%02x left in output", *p);

    /* truncation: never splits an escape, always terminates */
    char small[4];
    ck_assert_str_eq(lsc_escape_name(small, sizeof small, "abcdef"), "abc");
    ck_assert_str_eq(lsc_escape_name(small, sizeof small, "a\nb"), "a\\n");
    ck_assert_str_eq(lsc_escape_name(small, sizeof small, "ab\n"), "ab");
    ck_assert_str_eq(lsc_escape_name(small, sizeof small, "\x01"), "");
    char one[1] = {'z'};
    ck_assert_str_eq(lsc_escape_name(one, 1, "abc"), "");
    char untouched = 'k';
    ck_assert_ptr_eq(lsc_escape_name(&untouched, 0, "abc"), &untouched);
    ck_assert_int_eq(untouched, 'k');
}
END_TEST

/* TEXT mode, for whole lines of output: newline, tab and backslash stay (so names escaped once are not
 * escaped again, and JSON keeps its escapes); everything a terminal acts on does not. */
START_TEST(test_escape_text)
{
    char buf[256];
    size_t used = 0;
    ck_assert_uint_eq(lsc_escape(buf, sizeof buf, "a\x1b[2J\n\tb\\x", LSC_ESCAPE_TEXT, &used), 13);
    ck_assert_str_eq(buf, "a\\x1b[2J\n\tb\\x");
    ck_assert_uint_eq(used, 10);
    lsc_escape(buf, sizeof buf, "bell\x07 cr\r del\x7f", LSC_ESCAPE_TEXT, NULL);
    ck_assert_str_eq(buf, "bell\\x07 cr\\r del\\u007f");
    /* C1 controls as UTF-8 become \u00NN (valid inside a JSON string); a lone 8-bit CSI byte \xNN */
    lsc_escape(buf, sizeof buf, "csi\xc2\x9b nel\xc2\x85 raw\x9b caf\xc3\xa9", LSC_ESCAPE_TEXT, NULL);
    ck_assert_str_eq(buf, "csi\\u009b nel\\u0085 raw\\x9b caf\xc3\xa9");
    /* a full buffer stops before an escape, and says how much it took */
    char small[6];
    ck_assert_uint_eq(lsc_escape(small, sizeof small, "ab\x1b" "c", LSC_ESCAPE_TEXT, &used), 2);
    ck_assert_str_eq(small, "ab");
    ck_assert_uint_eq(used, 2);
}
END_TEST


/* lsc_pool_for: every item runs once, outputs land in their own slots whatever the thread count, and
 * the reported failure is the lowest failing index (not the first one a thread happened to reach). */
typedef struct pool_probe {
    int out[1000];
    int fail_from; /* items >= this fail (set > n for none) */
} pool_probe;

static lsc_status pool_probe_fn(void *ctx, size_t i, int worker, lsc_error *err)
{
    pool_probe *p = ctx;
    ck_assert_int_ge(worker, 0);
    ck_assert_int_lt(worker, 8);
    if ((int)i >= p->fail_from && (int)i % 7 == 3)
        return lsc_error_set(err, LSC_ERR_NUMERIC, "item %zu failed", i);
    p->out[i] += (int)(i * i % 1009) + 1;
    return LSC_OK;
}

START_TEST(test_pool_for)
{
    for (int threads = 0; threads <= 8; threads++) {
        static pool_probe p;
        memset(&p, 0, sizeof p);
        p.fail_from = 1 << 30;
        lsc_error e;
        lsc_error_clear(&e);
        ck_assert_int_eq(lsc_pool_for(1000, threads, pool_probe_fn, &p, &e), LSC_OK);
        for (int i = 0; i < 1000; i++) ck_assert_int_eq(p.out[i], i * i % 1009 + 1);
        memset(&p, 0, sizeof p);
        p.fail_from = 500; /* items 500 + 7k + ... fail: 500 % 7 = 3, so 500 is the lowest */
        ck_assert_int_eq(lsc_pool_for(1000, threads, pool_probe_fn, &p, &e), LSC_ERR_NUMERIC);
        ck_assert_str_eq(e.msg, "item 500 failed");
        ck_assert_int_eq(lsc_pool_for(0, threads, pool_probe_fn, &p, &e), LSC_OK);
    }
    lsc_pool_set_default(0);
    ck_assert_int_eq(lsc_pool_default_threads(), 1);
    lsc_pool_set_default(1000);
    ck_assert_int_eq(lsc_pool_default_threads(), 64);
    lsc_pool_set_default(2);
    ck_assert_int_eq(lsc_pool_default_threads(), 2);
}
END_TEST

static Suite *status_suite(void)
{
    Suite *s = suite_create("status");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_names);
    tcase_add_test(tc, test_pool_for);
    tcase_add_test(tc, test_name_index);
    tcase_add_test(tc, test_set_and_clear);
    tcase_add_test(tc, test_prefix);
    tcase_add_test(tc, test_escape);
    tcase_add_test(tc, test_escape_text);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(status_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed != 0;
}
