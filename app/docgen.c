/* docgen.c: lsc-docgen, the build-time writer of the manual pages and the shell completion scripts, from
 * the same command and option tables the binary parses with (meson runs it; it is not installed).
 *   lsc-docgen man OUTDIR          lorascope.1, lorascope-CMD.1 for every command, lorascope-script.5
 *   lsc-docgen bash|zsh|fish FILE  the completion script for that shell
 */
#include <stdio.h>
#include <string.h>

#include "command.h"
#include "completion.h"
#include "docs.h"
#include "sink.h"

static int write_file(const char *path, const lsc_sink *m)
{
    FILE *fp = fopen(path, "w");
    if (!fp || fwrite(m->buf ? m->buf : "", 1, m->len, fp) != m->len || fclose(fp) != 0) {
        fprintf(stderr, "lsc-docgen: cannot write '%s'\n", path);
        return 1;
    }
    return 0;
}

static int write_page(const char *dir, const char *page, int section)
{
    lsc_sink m;
    lsc_sink_init_mem(&m);
    int rc = lsc_man_page(&m, page);
    char path[4096];
    snprintf(path, sizeof path, "%s/%s.%d", dir, page, section);
    if (rc == 0)
        rc = write_file(path, &m);
    lsc_sink_release(&m);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "man") == 0) {
        int rc = write_page(argv[2], "lorascope", 1) | write_page(argv[2], "lorascope-script", 5);
        for (size_t i = 0; i < lsc_n_commands; i++) {
            char page[128];
            snprintf(page, sizeof page, "lorascope-%s", lsc_commands[i].name);
            rc |= write_page(argv[2], page, 1);
        }
        return rc;
    }
    static const char *const shells[] = {"bash", "zsh", "fish"};
    for (int s = 0; argc == 3 && s < 3; s++)
        if (strcmp(argv[1], shells[s]) == 0) {
            lsc_sink m;
            lsc_sink_init_mem(&m);
            lsc_completion_script(&m, (lsc_shell)s);
            int rc = write_file(argv[2], &m);
            lsc_sink_release(&m);
            return rc;
        }
    fprintf(stderr, "usage: lsc-docgen man OUTDIR | bash|zsh|fish FILE\n");
    return 2;
}
