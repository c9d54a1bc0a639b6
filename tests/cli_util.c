/* cli_util.c: see cli_util.h. Test support only. */
#include "cli_util.h"

#include <check.h>

#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

char *cli_tmpdir(void)
{
    char tmpl[] = "/tmp/lsc-test-XXXXXX";
    char *d = mkdtemp(tmpl);
    return d ? strdup(d) : NULL;
}

void cli_rmtree(const char *path)
{
    if (!path || strncmp(path, "/tmp/lsc-test-", 14) != 0)
        return;
    char cmd[4200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", path);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", path);
}

unsigned char *cli_slurp(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    size_t cap = 4096, len = 0;
    unsigned char *buf = malloc(cap + 1);
    size_t got;
    while (buf && (got = fread(buf + len, 1, cap - len, f)) > 0) {
        len += got;
        if (len == cap) {
            cap *= 2;
            unsigned char *nb = realloc(buf, cap + 1);
            if (!nb) {
                free(buf);
                buf = NULL;
            }
            buf = nb;
        }
    }
    fclose(f);
    if (buf)
        buf[len] = '\0';
    if (n)
        *n = len;
    return buf;
}

static char *slurp_fd(int fd)
{
    size_t cap = 4096, len = 0;
    char *buf = malloc(cap + 1);
    ssize_t got;
    lseek(fd, 0, SEEK_SET);
    while ((got = read(fd, buf + len, cap - len)) > 0) {
        len += (size_t)got;
        if (len == cap) {
            cap *= 2;
            buf = realloc(buf, cap + 1);
        }
    }
    buf[len] = '\0';
    return buf;
}

static cli_result cli_runv(const char *catalog, va_list ap);

cli_result cli_run(const char *catalog, ...)
{
    va_list ap;
    va_start(ap, catalog);
    cli_result r = cli_runv(catalog, ap);
    va_end(ap);
    return r;
}

void cli_ok(const char *catalog, ...)
{
    va_list ap;
    va_start(ap, catalog);
    va_list cp;
    va_copy(cp, ap);
    const char *cmd = va_arg(cp, const char *); /* the command word, for the message */
    va_end(cp);
    cli_result r = cli_runv(catalog, ap);
    va_end(ap);
    ck_assert_msg(r.code == 0, "%s: exit %d: %s", cmd ? cmd : "(no command)", r.code, r.err ? r.err : "");
    cli_result_free(&r);
}

static cli_result cli_runv(const char *catalog, va_list ap)
{
    cli_result r = {-1, NULL, NULL};
    const char *bin = getenv("LSC_BIN");
    const char *argv[128];
    int argc = 0;
    argv[argc++] = bin ? bin : "lorascope";
    if (catalog) {
        argv[argc++] = "--catalog";
        argv[argc++] = catalog;
    }
    const char *a;
    while ((a = va_arg(ap, const char *)) != NULL && argc < 126)
        argv[argc++] = a;
    argv[argc] = NULL;
    char o[] = "/tmp/lsc-out-XXXXXX", e[] = "/tmp/lsc-err-XXXXXX";
    int fo = mkstemp(o), fe = mkstemp(e);
    unlink(o);
    unlink(e);
    pid_t pid = fork();
    if (pid == 0) {
        int devnull = open("/dev/null", O_RDONLY);
        dup2(devnull, 0);
        dup2(fo, 1);
        dup2(fe, 2);
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    r.out = slurp_fd(fo);
    r.err = slurp_fd(fe);
    close(fo);
    close(fe);
    return r;
}

void cli_result_free(cli_result *r)
{
    free(r->out);
    free(r->err);
    r->out = r->err = NULL;
}

int cli_same_file(const char *a, const char *b)
{
    size_t na = 0, nb = 0;
    unsigned char *x = cli_slurp(a, &na), *y = cli_slurp(b, &nb);
    int same = (!x && !y) || (x && y && na == nb && memcmp(x, y, na) == 0);
    free(x);
    free(y);
    return same;
}

int cli_same_file_in(const char *dir_a, const char *dir_b, const char *name)
{
    char a[8192], b[8192];
    snprintf(a, sizeof a, "%s/%s", dir_a, name);
    snprintf(b, sizeof b, "%s/%s", dir_b, name);
    return cli_same_file(a, b);
}

int cli_write(const char *path, const void *data, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (!f)
        return -1;
    size_t w = fwrite(data, 1, n, f);
    return (fclose(f) == 0 && w == n) ? 0 : -1;
}

int cli_copy(const char *from, const char *to)
{
    size_t n;
    unsigned char *b = cli_slurp(from, &n);
    if (!b)
        return -1;
    int rc = cli_write(to, b, n);
    free(b);
    return rc;
}

int cli_write_st(const char *path, const char *header, const void *data, size_t n)
{
    size_t hl = strlen(header), padded = (hl + 7) / 8 * 8;
    unsigned char *buf = calloc(1, 8 + padded + n + 1);
    uint64_t N = padded;
    for (int i = 0; i < 8; i++)
        buf[i] = (unsigned char)(N >> (8 * i));
    memcpy(buf + 8, header, hl);
    memset(buf + 8 + hl, ' ', padded - hl);
    if (n)
        memcpy(buf + 8 + padded, data, n);
    int rc = cli_write(path, buf, 8 + padded + n);
    free(buf);
    return rc;
}

/* The string value of `"key": "..."` on one line of pretty-printed JSON, appended to *o (escapes kept). */
static void append_value(char **o, size_t *len, size_t *cap, const char *line, const char *key)
{
    const char *p = strstr(line, key);
    if (!p)
        return;
    p += strlen(key);
    const char *end = p;
    while (*end && *end != '\n' && !(*end == '"' && end[-1] != '\\'))
        end++;
    size_t n = (size_t)(end - p);
    if (*len + n + 2 >= *cap) {
        *cap = (*cap + n) * 2;
        *o = realloc(*o, *cap);
        ck_assert_ptr_nonnull(*o);
    }
    memcpy(*o + *len, p, n);
    *len += n;
    (*o)[(*len)++] = key[1] == 'n' ? ' ' : '\n';
    (*o)[*len] = '\0';
}

char *cli_names_hashes(const char *catalog)
{
    cli_result r = cli_run(catalog, "ls", "--json", NULL);
    ck_assert_msg(r.code == 0, "ls --json: %s", r.err);
    size_t len = 0, cap = 256;
    char *o = calloc(1, cap);
    ck_assert_ptr_nonnull(o);
    /* ls --json prints one key per line: "name" comes before "content_hash" in each object */
    for (const char *line = r.out; line && *line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL) {
        append_value(&o, &len, &cap, line, "\"name\": \"");
        append_value(&o, &len, &cap, line, "\"content_hash\": \"");
    }
    cli_result_free(&r);
    return o;
}

void cli_assert_unchanged(const char *catalog, char *before)
{
    char *after = cli_names_hashes(catalog);
    ck_assert_str_eq(before, after);
    free(before);
    free(after);
}

void assert_log_script_rebuilds(const char *catalog)
{
    char script[4600], fresh[4600];
    snprintf(script, sizeof script, "%s-replay.lsc", catalog);
    snprintf(fresh, sizeof fresh, "%s-replay.db", catalog);
    remove(fresh);
    cli_result r = cli_run(catalog, "log", "--script", NULL);
    ck_assert_msg(r.code == 0, "log --script: %s", r.err);
    ck_assert_int_eq(cli_write(script, r.out, strlen(r.out)), 0);
    cli_result_free(&r);
    r = cli_run(fresh, "run", script, NULL);
    if (r.code != 0) {
        char *text = (char *)cli_slurp(script, NULL);
        fprintf(stderr, "the script:\n%s", text ? text : "(unreadable)\n");
        free(text);
    }
    ck_assert_msg(r.code == 0, "replaying the log --script of %s: %s", catalog, r.err);
    cli_result_free(&r);
    char *want = cli_names_hashes(catalog), *got = cli_names_hashes(fresh);
    ck_assert_msg(*want, "%s: an empty catalog proves nothing", catalog);
    ck_assert_msg(strcmp(want, got) == 0, "log --script of %s rebuilds\n%s\ninstead of\n%s", catalog, got, want);
    free(want);
    free(got);
}

int cli_lines(const char *s)
{
    int n = 0;
    for (; s && *s; s++)
        n += *s == '\n';
    return n;
}

int cli_setup_samples(char **tmp, char *samples, size_t cap)
{
    *tmp = cli_tmpdir();
    if (!*tmp)
        return -1;
    snprintf(samples, cap, "%s/samples", *tmp);
    char cmd[8600];
    snprintf(cmd, sizeof cmd, "'%s/samples/gen-samples' '%s' >/dev/null", getenv("LSC_BUILD"), samples);
    if (system(cmd) != 0) {
        fprintf(stderr, "cannot generate the samples with $LSC_BUILD/samples/gen-samples\n");
        return -1;
    }
    return 0;
}

int cli_run_suite(const char *name, const struct TTest *const *tests, int no_fork, char *tmp)
{
    Suite *s = suite_create(name);
    TCase *tc = tcase_create(name);
    tcase_set_timeout(tc, 240);
    for (; *tests; tests++)
        tcase_add_test(tc, *tests);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    if (no_fork)
        srunner_set_fork_status(sr, CK_NOFORK);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    cli_rmtree(tmp);
    free(tmp);
    return failed ? 1 : 0;
}

static int cmp_block_str(const void *a, const void *b)
{
    char x[16], y[16];
    snprintf(x, sizeof x, "%d", *(const int *)a);
    snprintf(y, sizeof y, "%d", *(const int *)b);
    return strcmp(x, y);
}

int cli_write_peft_blocks(const char *dir, int n)
{
    if (n < 1 || n > 64)
        return -1;
    mkdir(dir, 0755);
    int blocks[64];
    for (int b = 0; b < n; b++)
        blocks[b] = b;
    qsort(blocks, (size_t)n, sizeof *blocks, cmp_block_str); /* 0 1 10 11 2 ... as strings sort */
    static char header[64 * 256];
    float data[64 * 4];
    size_t off = 0, t = 0, len = 1;
    strcpy(header, "{");
    for (int b = 0; b < n; b++)
        for (int ab = 0; ab < 2; ab++) {
            len += (size_t)snprintf(header + len, sizeof header - len,
                                    "%s\"base_model.model.model.layers.%d.self_attn.q_proj.lora_%c.weight\": "
                                    "{\"dtype\": \"F32\", \"shape\": [%d, %d], \"data_offsets\": [%zu, %zu]}",
                                    t ? ", " : "", blocks[b], ab ? 'B' : 'A', ab ? 2 : 1, ab ? 1 : 2, off, off + 8);
            data[2 * t] = 1.0f + (float)blocks[b];
            data[2 * t + 1] = 0.5f;
            off += 8;
            t++;
        }
    strcat(header, "}");
    char p[4600];
    snprintf(p, sizeof p, "%s/adapter_model.safetensors", dir);
    if (cli_write_st(p, header, data, 2 * t * sizeof *data) != 0)
        return -1;
    snprintf(p, sizeof p, "%s/adapter_config.json", dir);
    const char *cfg = "{\"peft_type\": \"LORA\", \"r\": 1, \"lora_alpha\": 1, \"base_model_name_or_path\": \"x\","
                      " \"target_modules\": [\"q_proj\"]}";
    return cli_write(p, cfg, strlen(cfg));
}
