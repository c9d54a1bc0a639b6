/* regress-regex.c: regression for a bug the fuzzer found, fixed in store/peft.c (py_to_ere).
 *
 * A rank_pattern / alpha_pattern key was translated to POSIX ERE and handed to glibc's regcomp with no
 * bound on repetition counts or stacked quantifiers, and regcomp's memory grows with them: a config with
 * rank_pattern {"q_proj{1,32767}": 2} (a key Python's re accepts) made `lorascope import` allocate ~8 GB
 * over ~21 s (found by fuzz-peft-config: tests/fuzz/corpus/peft-config/regress-b33558b5d411). Keys are
 * now bounded (length, quantifiers, one repetition bound <= 32, nothing stacked) and such a key is refused
 * as "not a supported regular expression".
 * This test imports such a config with the real binary (LSC_BIN) under a 1 GB address-space limit and
 * checks that the import fails cleanly with peak memory under 200 MB.
 * Depends on libc and cli_util (test support). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli_util.h"

int main(void)
{
#if defined(__SANITIZE_ADDRESS__)
    return 77; /* an ASan binary cannot start under a 1 GB address-space limit: nothing to measure */
#endif
    const char *bin = getenv("LSC_BIN");
    char *tmp = cli_tmpdir();
    if (!bin || !tmp)
        return 77;
    char dir[4200], p[4300], cat[4300];
    snprintf(dir, sizeof dir, "%s/bomb", tmp);
    snprintf(cat, sizeof cat, "%s/c.db", tmp);
    if (mkdir(dir, 0755) != 0)
        return 1;
    float v[4] = {1, 2, 3, 4};
    snprintf(p, sizeof p, "%s/adapter_model.safetensors", dir);
    cli_write_st(p,
                 "{\"base_model.model.m.q_proj.lora_A.weight\":{\"dtype\":\"F32\",\"shape\":[1,2],\"data_offsets\":[0,8]},"
                 "\"base_model.model.m.q_proj.lora_B.weight\":{\"dtype\":\"F32\",\"shape\":[2,1],\"data_offsets\":[8,16]}}",
                 v, sizeof v);
    snprintf(p, sizeof p, "%s/adapter_config.json", dir);
    const char *cfg = "{\"peft_type\":\"LORA\",\"r\":1,\"lora_alpha\":2,\"rank_pattern\":{\"q_proj{1,32767}\":1}}";
    cli_write(p, cfg, strlen(cfg));

    pid_t pid = fork();
    if (pid == 0) {
        struct rlimit rl = {1ul << 30, 1ul << 30};
        setrlimit(RLIMIT_AS, &rl);
        alarm(120);
        int null = open("/dev/null", O_WRONLY);
        dup2(null, 1);
        execl(bin, bin, "--catalog", cat, "import", dir, (char *)NULL);
        _exit(127);
    }
    int status = 0;
    struct rusage ru;
    memset(&ru, 0, sizeof ru);
    wait4(pid, &status, 0, &ru);
    long peak_mb = ru.ru_maxrss / 1024;
    int code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    printf("import of a config with rank_pattern key 'q_proj{1,32767}': exit %d, peak memory %ld MB\n", code, peak_mb);
    cli_rmtree(tmp);
    free(tmp);
    printf("%d passed, %d failed\n", peak_mb < 200 && code == 1, !(peak_mb < 200 && code == 1));
    return peak_mb < 200 && code == 1 ? 0 : 1;
}
