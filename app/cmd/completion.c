/* completion.c: bash, zsh and fish completion scripts written from the command and option tables, and
 * the `__complete` word lists they ask the binary for (see completion.h).
 *
 * One data model feeds the three shells: for each command, its options; for each valued option a kind
 * ("choice:a b c", "layer", "path", "adapter", "value"); for each positional index a kind, with the last
 * repeatable positional standing for every later index. bash and zsh get it as associative arrays and one
 * driver function; fish as `complete` lines. */
#include "completion.h"

#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "layername.h"
#include "options.h"

/* The completion kind of a valued entry; NULL for a flag. Choice lists are written by the caller. */
static const char *entry_kind(const lsc_opt *o)
{
    switch (o->type) {
    case LSC_OPT_FLAG: return NULL;
    case LSC_OPT_CHOICE: return "choice";
    case LSC_OPT_GLOB: return "layer";
    case LSC_OPT_PATH: return "path";
    case LSC_OPT_ADAPTER: return "adapter";
    default: return "value";
    }
}

/* Write the kind of o as one word list: "choice:a b c" or the plain kind. */
static void kind_text(lsc_sink *out, const lsc_opt *o)
{
    const char *k = entry_kind(o);
    lsc_out_str(out, k ? k : "none");
    if (o->type == LSC_OPT_CHOICE) {
        lsc_out_str(out, ":");
        for (int i = 0; o->choices[i]; i++)
            lsc_out(out, "%s%s", i ? " " : "", o->choices[i]);
    }
}

/* ---- bash and zsh: associative arrays + one driver ------------------------------------------------ */

static void shell_data(lsc_sink *out)
{
    lsc_out_str(out, "_lorascope_cmds='");
    for (size_t i = 0; i < lsc_n_commands; i++)
        lsc_out(out, "%s ", lsc_commands[i].name);
    lsc_out_str(out, "help tui'\n_lorascope_globals='");
    lsc_out_str(out, "--catalog --json --readonly --no-color --ascii --no-mouse --help --version'\n");
    lsc_out_str(out, "typeset -gA _lorascope_opts _lorascope_val _lorascope_pos _lorascope_many\n");
    for (size_t i = 0; i < lsc_n_commands; i++) {
        const lsc_command *c = &lsc_commands[i];
        lsc_out(out, "_lorascope_opts[%s]='", c->name);
        for (const lsc_opt *o = c->spec->opts; o->type != LSC_OPT_END; o++)
            if (o->name)
                lsc_out(out, "--%s ", o->name);
        lsc_out_str(out, "--help'\n");
        int pos = 0;
        for (const lsc_opt *o = c->spec->opts; o->type != LSC_OPT_END; o++) {
            if (o->name && o->type != LSC_OPT_FLAG) {
                lsc_out(out, "_lorascope_val[%s:--%s]='", c->name, o->name);
                kind_text(out, o);
                lsc_out_str(out, "'\n");
            } else if (!o->name) {
                lsc_out(out, "_lorascope_pos[%s:%d]='", c->name, pos);
                kind_text(out, o);
                lsc_out_str(out, "'\n");
                if (o->flags & LSC_OPT_MANY)
                    lsc_out(out, "_lorascope_many[%s]=%d\n", c->name, pos);
                pos++;
            }
        }
    }
}

static const char bash_driver[] =
    "# The words of the catalog: adapters, or the layers of one adapter (a 2 s limit, like git's).\n"
    "_lorascope_ask() {\n"
    "  timeout 2 \"$_lorascope_bin\" \"${_lorascope_catalog[@]-}\" __complete \"$@\" 2>/dev/null\n"
    "}\n"
    "# Fill COMPREPLY for a word of kind $1 (choice:..., adapter, layer, path, value, none).\n"
    "_lorascope_fill() {\n"
    "  local kind=$1 cur=$2 IFS=$'\\n' # candidates are one per line (names may hold spaces)\n"
    "  case $kind in\n"
    "    choice:*) local list=${kind#choice:}; COMPREPLY=($(compgen -W \"${list// /$'\\n'}\" -- \"$cur\")) ;;\n"
    "    adapter) COMPREPLY=($(compgen -W \"$(_lorascope_ask adapters)\" -- \"$cur\")) ;;\n"
    "    layer) [ -n \"$_lorascope_adapter\" ] &&\n"
    "      COMPREPLY=($(compgen -W \"$(_lorascope_ask layers \"$_lorascope_adapter\")\" -- \"$cur\")) ;;\n"
    "    path) COMPREPLY=($(compgen -f -- \"$cur\")); compopt -o filenames 2>/dev/null ;;\n"
    "    *) COMPREPLY=() ;;\n"
    "  esac\n"
    "}\n"
    "_lorascope() {\n"
    "  local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD-1]} i=1 cmd= w\n"
    "  _lorascope_bin=${COMP_WORDS[0]}\n"
    "  _lorascope_catalog=() _lorascope_adapter=\n"
    "  COMPREPLY=()\n"
    "  while [ $i -lt $COMP_CWORD ]; do\n"
    "    w=${COMP_WORDS[i]}\n"
    "    case $w in\n"
    "      --catalog) _lorascope_catalog=(--catalog \"${COMP_WORDS[i+1]}\"); i=$((i+2)); continue ;;\n"
    "      --catalog=*) _lorascope_catalog=(\"$w\") ;;\n"
    "      -*) ;;\n"
    "      *) cmd=$w; break ;;\n"
    "    esac\n"
    "    i=$((i+1))\n"
    "  done\n"
    "  if [ -z \"$cmd\" ]; then\n"
    "    if [ \"$prev\" = --catalog ]; then _lorascope_fill path \"$cur\"\n"
    "    elif [[ $cur == -* ]]; then COMPREPLY=($(compgen -W \"$_lorascope_globals\" -- \"$cur\"))\n"
    "    else COMPREPLY=($(compgen -W \"$_lorascope_cmds\" -- \"$cur\")); fi\n"
    "    return 0\n"
    "  fi\n"
    "  if [ \"$cmd\" = help ]; then COMPREPLY=($(compgen -W \"$_lorascope_cmds script\" -- \"$cur\")); return 0; fi\n"
    "  if [ \"$cmd\" = tui ]; then _lorascope_fill adapter \"$cur\"; return 0; fi\n"
    "  # walk the words after the command: positionals by index, valued options skip their value\n"
    "  local n=0 j=$((i+1)) kind\n"
    "  while [ $j -lt $COMP_CWORD ]; do\n"
    "    w=${COMP_WORDS[j]}\n"
    "    if [[ $w == --*=* ]]; then :\n"
    "    elif [[ $w == --* ]]; then [ -n \"${_lorascope_val[$cmd:$w]-}\" ] && j=$((j+1))\n"
    "    else\n"
    "      kind=${_lorascope_pos[$cmd:$n]-}\n"
    "      [ -z \"$kind\" ] && [ -n \"${_lorascope_many[$cmd]-}\" ] && kind=${_lorascope_pos[$cmd:${_lorascope_many[$cmd]-}]}\n"
    "      [ \"$kind\" = adapter ] && [ -z \"$_lorascope_adapter\" ] && _lorascope_adapter=$w\n"
    "      n=$((n+1))\n"
    "    fi\n"
    "    j=$((j+1))\n"
    "  done\n"
    "  if [[ $prev == --* ]] && [ -n \"${_lorascope_val[$cmd:$prev]-}\" ]; then\n"
    "    _lorascope_fill \"${_lorascope_val[$cmd:$prev]-}\" \"$cur\"; return 0\n"
    "  fi\n"
    "  if [[ $cur == -* ]]; then\n"
    "    COMPREPLY=($(compgen -W \"${_lorascope_opts[$cmd]-}\" -- \"$cur\")); return 0\n"
    "  fi\n"
    "  kind=${_lorascope_pos[$cmd:$n]-}\n"
    "  [ -z \"$kind\" ] && [ -n \"${_lorascope_many[$cmd]-}\" ] && kind=${_lorascope_pos[$cmd:${_lorascope_many[$cmd]-}]}\n"
    "  _lorascope_fill \"${kind:-none}\" \"$cur\"\n"
    "  return 0\n"
    "}\n"
    "complete -F _lorascope lorascope\n";

/* zsh: the same driver over zsh's words/CURRENT, candidates through compadd / _files. */
static const char zsh_driver[] =
    "_lorascope_ask() {\n"
    "  timeout 2 \"$_lorascope_bin\" \"${_lorascope_catalog[@]-}\" __complete \"$@\" 2>/dev/null\n"
    "}\n"
    "_lorascope_fill() {\n"
    "  local kind=$1\n"
    "  case $kind in\n"
    "    choice:*) compadd -- ${=kind#choice:} ;;\n"
    "    adapter) compadd -- ${(f)\"$(_lorascope_ask adapters)\"} ;;\n"
    "    layer) [[ -n $_lorascope_adapter ]] && compadd -- ${(f)\"$(_lorascope_ask layers $_lorascope_adapter)\"} ;;\n"
    "    path) _files ;;\n"
    "  esac\n"
    "}\n"
    "_lorascope() {\n"
    "  local cur=${words[CURRENT]} prev=${words[CURRENT-1]} i=2 cmd= w kind\n"
    "  _lorascope_bin=${words[1]}\n"
    "  _lorascope_catalog=() _lorascope_adapter=\n"
    "  while (( i < CURRENT )); do\n"
    "    w=${words[i]}\n"
    "    case $w in\n"
    "      --catalog) _lorascope_catalog=(--catalog ${words[i+1]}); (( i += 2 )); continue ;;\n"
    "      --catalog=*) _lorascope_catalog=($w) ;;\n"
    "      -*) ;;\n"
    "      *) cmd=$w; break ;;\n"
    "    esac\n"
    "    (( i++ ))\n"
    "  done\n"
    "  if [[ -z $cmd ]]; then\n"
    "    if [[ $prev == --catalog ]]; then _files\n"
    "    elif [[ $cur == -* ]]; then compadd -- ${=_lorascope_globals}\n"
    "    else compadd -- ${=_lorascope_cmds}; fi\n"
    "    return\n"
    "  fi\n"
    "  if [[ $cmd == help ]]; then compadd -- ${=_lorascope_cmds} script; return; fi\n"
    "  if [[ $cmd == tui ]]; then _lorascope_fill adapter; return; fi\n"
    "  local n=0 j=$((i+1))\n"
    "  while (( j < CURRENT )); do\n"
    "    w=${words[j]}\n"
    "    if [[ $w == --*=* ]]; then :\n"
    "    elif [[ $w == --* ]]; then [[ -n ${_lorascope_val[$cmd:$w]-} ]] && (( j++ ))\n"
    "    else\n"
    "      kind=${_lorascope_pos[$cmd:$n]-}\n"
    "      [[ -z $kind && -n ${_lorascope_many[$cmd]-} ]] && kind=${_lorascope_pos[$cmd:${_lorascope_many[$cmd]-}]}\n"
    "      [[ $kind == adapter && -z $_lorascope_adapter ]] && _lorascope_adapter=$w\n"
    "      (( n++ ))\n"
    "    fi\n"
    "    (( j++ ))\n"
    "  done\n"
    "  if [[ $prev == --* && -n ${_lorascope_val[$cmd:$prev]-} ]]; then\n"
    "    _lorascope_fill ${_lorascope_val[$cmd:$prev]-}; return\n"
    "  fi\n"
    "  if [[ $cur == -* ]]; then compadd -- ${=_lorascope_opts[$cmd]}; return; fi\n"
    "  kind=${_lorascope_pos[$cmd:$n]-}\n"
    "  [[ -z $kind && -n ${_lorascope_many[$cmd]-} ]] && kind=${_lorascope_pos[$cmd:${_lorascope_many[$cmd]-}]}\n"
    "  _lorascope_fill ${kind:-none}\n"
    "}\n"
    "_lorascope \"$@\"\n";

/* A single-quoted fish/sh word: ' becomes '\'' */
static void quoted(lsc_sink *out, const char *s, size_t n)
{
    lsc_out_str(out, "'");
    for (size_t i = 0; i < n && s[i]; i++) {
        if (s[i] == '\'')
            lsc_out_str(out, "'\\''");
        else if (s[i] == '\\')
            lsc_out_str(out, "\\\\");
        else
            lsc_out(out, "%c", s[i]);
    }
    lsc_out_str(out, "'");
}

static void fish_option(lsc_sink *out, const lsc_command *c, const lsc_opt *o)
{
    lsc_out(out, "complete -c lorascope -n '__fish_seen_subcommand_from %s' -l %s", c->name, o->name);
    if (o->type == LSC_OPT_PATH)
        lsc_out_str(out, " -r -F");
    else if (o->type == LSC_OPT_CHOICE) {
        lsc_out_str(out, " -x -a ");
        lsc_sink m;
        lsc_sink_init_mem(&m);
        for (int i = 0; o->choices[i]; i++)
            lsc_out(&m, "%s%s", i ? " " : "", o->choices[i]);
        quoted(out, m.buf ? m.buf : "", m.len);
        lsc_sink_release(&m);
    } else if (o->type == LSC_OPT_GLOB)
        lsc_out_str(out, " -x -a '(__lorascope_layers)'");
    else if (o->type == LSC_OPT_ADAPTER)
        lsc_out_str(out, " -x -a '(__lorascope_adapters)'");
    else if (o->type != LSC_OPT_FLAG)
        lsc_out_str(out, " -x");
    if (o->help) {
        lsc_out_str(out, " -d ");
        quoted(out, o->help, strcspn(o->help, "\n"));
    }
    lsc_out_str(out, "\n");
}

static void fish_script(lsc_sink *out)
{
    lsc_out_str(out,
                "function __lorascope_catalog\n"
                "  set -l w (commandline -opc)\n"
                "  for i in (seq (count $w))\n"
                "    if test \"$w[$i]\" = --catalog; and test $i -lt (count $w)\n"
                "      echo --catalog; echo $w[(math $i + 1)]\n"
                "    end\n"
                "  end\n"
                "end\n"
                "function __lorascope_adapters\n"
                "  timeout 2 (commandline -opc)[1] (__lorascope_catalog) __complete adapters 2>/dev/null\n"
                "end\n"
                "function __lorascope_layers\n"
                "  set -l w (commandline -opc)\n"
                "  set -l names (__lorascope_adapters)\n"
                "  for x in $w[2..-1]\n"
                "    if contains -- $x $names\n"
                "      timeout 2 $w[1] (__lorascope_catalog) __complete layers $x 2>/dev/null\n"
                "      return\n"
                "    end\n"
                "  end\n"
                "end\n"
                "complete -c lorascope -f\n"
                "complete -c lorascope -n __fish_use_subcommand -l catalog -r -F -d 'the catalog file'\n");
    static const char *const globals[] = {"json", "readonly", "no-color", "ascii", "no-mouse", "help", "version"};
    for (size_t i = 0; i < sizeof globals / sizeof *globals; i++)
        lsc_out(out, "complete -c lorascope -n __fish_use_subcommand -l %s\n", globals[i]);
    lsc_out_str(out, "complete -c lorascope -n __fish_use_subcommand -a help -d 'a command\\'s manual page'\n"
                     "complete -c lorascope -n __fish_use_subcommand -a tui -d 'open the workbench'\n");
    for (size_t i = 0; i < lsc_n_commands; i++) {
        const lsc_command *c = &lsc_commands[i];
        lsc_out(out, "complete -c lorascope -n __fish_use_subcommand -a %s -d ", c->name);
        quoted(out, c->summary, strlen(c->summary));
        lsc_out_str(out, "\n");
        lsc_out(out, "complete -c lorascope -n '__fish_seen_subcommand_from help' -a %s\n", c->name);
        int takes_adapter = 0, takes_path = 0, takes_glob = 0;
        for (const lsc_opt *o = c->spec->opts; o->type != LSC_OPT_END; o++) {
            if (o->name)
                fish_option(out, c, o);
            else {
                takes_adapter |= o->type == LSC_OPT_ADAPTER;
                takes_path |= o->type == LSC_OPT_PATH;
                takes_glob |= o->type == LSC_OPT_GLOB;
            }
        }
        if (takes_adapter)
            lsc_out(out, "complete -c lorascope -n '__fish_seen_subcommand_from %s' -a '(__lorascope_adapters)'\n",
                    c->name);
        if (takes_glob)
            lsc_out(out, "complete -c lorascope -n '__fish_seen_subcommand_from %s' -a '(__lorascope_layers)'\n",
                    c->name);
        if (takes_path)
            lsc_out(out, "complete -c lorascope -n '__fish_seen_subcommand_from %s' -F\n", c->name);
    }
}

void lsc_completion_script(lsc_sink *out, lsc_shell shell)
{
    switch (shell) {
    case LSC_SHELL_BASH:
        lsc_out_str(out, "# bash completion for lorascope, generated from its command tables; do not edit.\n");
        shell_data(out);
        lsc_out_str(out, bash_driver);
        break;
    case LSC_SHELL_ZSH:
        lsc_out_str(out, "#compdef lorascope\n# zsh completion for lorascope, generated from its command "
                         "tables; do not edit.\n");
        shell_data(out);
        lsc_out_str(out, zsh_driver);
        break;
    case LSC_SHELL_FISH:
        lsc_out_str(out, "# fish completion for lorascope, generated from its command tables; do not edit.\n");
        fish_script(out);
        break;
    }
}

/* ---- __complete ------------------------------------------------------------------------------------- */

static int open_ro(lsc_cmd_ctx *ctx)
{
    char buf[4096];
    const char *path = ctx->catalog_path ? ctx->catalog_path : lsc_catalog_default_path(buf, sizeof buf);
    if (!path)
        return -1;
    return lsc_catalog_open(path, LSC_CATALOG_READONLY, &ctx->cat, &ctx->err) == LSC_OK ? 0 : -1;
}

int lsc_complete_words(lsc_cmd_ctx *ctx, int argc, char **argv)
{
    if (argc < 1 || (strcmp(argv[0], "adapters") != 0 && strcmp(argv[0], "layers") != 0)) {
        lsc_error_set(&ctx->err, LSC_ERR_USAGE, "usage: lorascope __complete adapters [PREFIX] | layers NAME");
        return LSC_EXIT_USAGE;
    }
    int layers = strcmp(argv[0], "layers") == 0;
    if (layers && argc < 2) {
        lsc_error_set(&ctx->err, LSC_ERR_USAGE, "usage: lorascope __complete layers NAME");
        return LSC_EXIT_USAGE;
    }
    if (open_ro(ctx))
        return LSC_EXIT_OK; /* no catalog: no candidates */
    if (!layers) {
        lsc_adapter_info *infos = NULL;
        size_t n = 0;
        if (lsc_catalog_list(ctx->cat, &infos, &n, &ctx->err) == LSC_OK) {
            const char *prefix = argc > 1 ? argv[1] : "";
            for (size_t i = 0; i < n; i++)
                if (strncmp(infos[i].name, prefix, strlen(prefix)) == 0)
                    lsc_out(ctx->out, "%s\n", infos[i].name);
            lsc_adapter_info_free_array(infos, n);
        }
    } else {
        lsc_adapter *ad = NULL;
        if (lsc_cmd_load(ctx, argv[1], &ad, NULL) == LSC_OK) {
            size_t *order = lsc_layername_order(ad);
            for (size_t i = 0; order && i < ad->n_layers; i++)
                lsc_out(ctx->out, "%s\n", lsc_layername_display(ad->layers[order[i]].name));
            free(order);
            lsc_adapter_free(ad);
        }
    }
    lsc_catalog_close(ctx->cat);
    ctx->cat = NULL;
    lsc_error_clear(&ctx->err);
    return LSC_EXIT_OK;
}
