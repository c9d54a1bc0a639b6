/* state_job.c: the commands the workbench runs (prune, merge, retrain, undo, redo, the prompt, the
 * session script): starting one on the worker thread, its progress, what follows when it ends (report,
 * output view, reload), the yes/no confirmation before a change, undo/redo and saving the session.
 * Never includes curses.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "fileio.h"
#include "job.h"
#include "view.h"

/* ---- jobs: commands that change the catalog (or may take long) --------------------------------------- */

/* After a command: reload what is on screen. An adapter that disappeared (undo, rm) closes its views. */
unsigned lsc_tui_reload_after_edit(lsc_tui_state *st)
{
    lsc_tui_vsbase_forget(st); /* an edit may record, undo or change a base: the figures are asked again */
    char msg[sizeof st->msg];
    lsc_tui_msg_level lvl = st->msg_level;
    memcpy(msg, st->msg, sizeof msg);
    unsigned ch = lsc_tui_load_catalog(st);
    if (st->layers.adapter[0]) {
        if (lsc_tui_adapter_exists(st, st->layers.adapter)) {
            lsc_tui_load_layers(st, st->layers.adapter);
        } else {
            int d = 1; /* keep the views that do not belong to the adapter */
            while (d < st->depth && (st->stack[d] == LSC_VIEW_HISTORY || st->stack[d] == LSC_VIEW_OUTPUT ||
                                     st->stack[d] == LSC_VIEW_MERGE || st->stack[d] == LSC_VIEW_DIFF))
                d++;
            lsc_tui_layers_forget(st);
            lsc_tui_prune_forget(st);
            lsc_tui_view_truncate(st, d); /* each closing view drops what it showed */
        }
    }
    for (int d = 0; d < st->depth; d++)
        if (st->stack[d] == LSC_VIEW_HISTORY) {
            lsc_tui_load_history(st);
            break;
        }
    if (st->msg_level != LSC_MSG_ERROR || lvl == LSC_MSG_ERROR) {
        memcpy(st->msg, msg, sizeof msg);
        st->msg_level = lvl;
    }
    return ch | LSC_TUI_CH_RELOAD | LSC_TUI_CH_RESIZE;
}

void lsc_tui_select_adapter(lsc_tui_state *st, const char *name)
{
    lsc_tui_list *cl = &st->lists[LSC_VIEW_CATALOG];
    for (size_t i = 0; i < cl->n; i++)
        if (strcmp(st->catalog.rows[cl->order[i]].name, name) == 0) {
            cl->cursor = i;
            lsc_tui_list_clamp(cl, st->lay.body_h);
        }
}

/* First line of text (without the newline) into buf. */
static void first_line(const char *text, char *buf, size_t cap)
{
    size_t n = strcspn(text, "\n");
    if (n >= cap)
        n = cap - 1;
    memcpy(buf, text, n);
    buf[n] = '\0';
}

static unsigned write_session(lsc_tui_state *st, const char *script)
{
    int edits = 0;
    for (const char *p = script; *p;) {
        if (*p != '#' && *p != '\n')
            edits++;
        const char *e = strchr(p, '\n');
        p = e ? e + 1 : p + strlen(p);
    }
    if (edits == 0) {
        lsc_tui_state_msg(st, LSC_MSG_WARN, "no edits since the workbench started: '%s' not written", st->session_file);
        return LSC_TUI_CH_REDRAW;
    }
    /* the one atomic writer of user-named files: a symbolic link is written through, a FIFO or device is
     * refused, and a failure leaves the old file as it was */
    lsc_atomic_file f;
    lsc_error err = {0};
    char head[96];
    snprintf(head, sizeof head, "# lorascope workbench session: the edits after history entry #%lld\n",
             (long long)st->session_since);
    lsc_status rc = lsc_atomic_begin(&f, st->session_file, &err);
    if (!rc && (lsc_write_full(f.fd, head, strlen(head)) != 0 || lsc_write_full(f.fd, script, strlen(script)) != 0)) {
        rc = lsc_error_set(&err, LSC_ERR_IO, "cannot write '%s': %s", st->session_file, strerror(errno));
        lsc_atomic_abort(&f);
    } else if (!rc) {
        rc = lsc_atomic_commit(&f, &err);
    }
    if (rc)
        lsc_tui_state_msg(st, LSC_MSG_ERROR, "%s", err.msg);
    else
        lsc_tui_state_msg(st, LSC_MSG_INFO, "saved %d edit%s to '%s' (replay: lorascope run %s)", edits,
                          edits == 1 ? "" : "s", st->session_file, st->session_file);
    return LSC_TUI_CH_REDRAW;
}

/* Whether the model now lists `name` (a cancelled retrain keeps its best state under it). */
static int adapter_kept(lsc_tui_state *st, const char *name)
{
    lsc_tui_adapter *a = NULL;
    size_t n = 0;
    lsc_error err = {0};
    int found = 0;
    if (st->model->list_adapters(st->model->ctx, &a, &n, &err) == LSC_OK)
        for (size_t i = 0; i < n && !found; i++)
            found = strcmp(a[i].name, name) == 0;
    free(a);
    return found;
}

/* The job is over: report, show, reload. */
static unsigned job_finished(lsc_tui_state *st, int rc, char *output, char *errmsg, int cancelled)
{
    unsigned ch = LSC_TUI_CH_REDRAW;
    lsc_tui_job_kind kind = st->job_kind;
    char line[sizeof st->msg];
    if (rc != 0 && kind == LSC_JOB_RETRAIN && cancelled && adapter_kept(st, st->job_target)) {
        /* retrain stops at the next step and keeps its best state as NEW */
        lsc_tui_state_msg(st, LSC_MSG_WARN, "retrain stopped: %s - u undoes", errmsg ? errmsg : "the best state is kept");
    } else if (kind == LSC_JOB_BASEFIG) { /* no edit: nothing to reload */
        if (rc == 0)
            lsc_tui_vsbase_done(st, st->job_target, output);
        else
            lsc_tui_vsbase_failed(st, st->job_target, errmsg, cancelled);
        if (rc != 0 && cancelled)
            lsc_tui_state_msg(st, LSC_MSG_WARN, "'%s' cancelled", st->job_title);
        else if (rc != 0)
            lsc_tui_state_msg(st, LSC_MSG_ERROR, "%s", errmsg ? errmsg : "the figures could not be computed");
        free(output);
        free(errmsg);
        return ch | LSC_TUI_CH_RESIZE;
    } else if (rc != 0) {
        if (kind == LSC_JOB_PROMPT && output[0]) /* first: a view change clears the message */
            lsc_tui_output_show(st, output, st->job_title, 0);
        if (cancelled)
            lsc_tui_state_msg(st, LSC_MSG_WARN, "'%s' cancelled: nothing written", st->job_title);
        else
            lsc_tui_state_msg(st, LSC_MSG_ERROR, "%s (exit %d)", errmsg ? errmsg : "command failed", rc);
    } else {
        switch (kind) {
        case LSC_JOB_PROMPT:
            if (output[0])
                lsc_tui_output_show(st, output, st->job_title, 0);
            lsc_tui_state_msg(st, LSC_MSG_INFO, "'%s' done", st->job_title);
            break;
        case LSC_JOB_PRUNE:
        case LSC_JOB_MERGE:
            lsc_tui_output_show(st, output, st->job_title, 1);
            first_line(output, line, sizeof line);
            lsc_tui_state_msg(st, LSC_MSG_INFO, "created '%s' - u undoes", st->job_target);
            break;
        case LSC_JOB_UNDO:
        case LSC_JOB_REDO:
            first_line(output, line, sizeof line);
            lsc_tui_state_msg(st, LSC_MSG_INFO, "%s - %s", line[0] ? line : "done",
                              kind == LSC_JOB_UNDO ? "U redoes" : "u undoes again");
            break;
        case LSC_JOB_SAVE: ch |= write_session(st, output); break;
        case LSC_JOB_RETRAIN:
            first_line(output, line, sizeof line);
            lsc_tui_state_msg(st, LSC_MSG_INFO, "created %s - u undoes", line[0] ? line : st->job_target);
            break;
        case LSC_JOB_BASEFIG: break; /* handled above */
        }
    }
    free(output);
    free(errmsg);
    if (kind == LSC_JOB_RETRAIN)
        lsc_tui_retrain_job_ended(st);
    if (kind != LSC_JOB_SAVE) {
        ch |= lsc_tui_reload_after_edit(st);
        if (kind == LSC_JOB_PRUNE || kind == LSC_JOB_MERGE || kind == LSC_JOB_RETRAIN)
            lsc_tui_select_adapter(st, st->job_target);
        if (lsc_tui_state_view(st) == LSC_VIEW_PRUNE && st->prune.adapter[0])
            lsc_tui_prune_refresh(st);
    }
    return ch | LSC_TUI_CH_RELOAD;
}

unsigned lsc_tui_job_run(lsc_tui_state *st, const lsc_tui_argv *a, const char *title)
{
    if (st->job) {
        lsc_tui_state_msg(st, LSC_MSG_WARN, "'%s' is still running", st->job_title);
        return LSC_TUI_CH_REDRAW;
    }
    if (lsc_tui_vsbase_refuse(st, title))
        return LSC_TUI_CH_REDRAW;
    char *argv[LSC_TUI_ARGS_MAX + 1];
    for (int i = 0; i < a->argc; i++)
        argv[i] = (char *)a->argv[i];
    argv[a->argc] = NULL;
    lsc_tui_copy(st->job_title, sizeof st->job_title, title);
    st->job_kind = a->kind;
    st->job_what[0] = '\0';
    st->job_done = st->job_total = 0;
    st->job_elapsed = 0;
    st->job_cancelling = 0;
    if (a->kind == LSC_JOB_RETRAIN)
        lsc_tui_retrain_job_started(st, st->job_target);
    if (!st->async)
        lsc_tui_busy(st, "running '%s'", title);
    st->job = lsc_tui_job_start(st->model, a->argc, argv, st->readonly ? LSC_TUI_RUN_READONLY : 0, st->async);
    if (!st->job) {
        lsc_tui_state_msg(st, LSC_MSG_ERROR, "cannot start '%s': out of memory or no thread", title);
        return LSC_TUI_CH_REDRAW;
    }
    if (!st->async)
        return lsc_tui_state_wait(st);
    return LSC_TUI_CH_REDRAW;
}

unsigned lsc_tui_state_poll(lsc_tui_state *st)
{
    unsigned ch = lsc_tui_vsbase_poll(st); /* the figures job on the model's reader, if one runs */
    if (!st->job)
        return ch;
    if (!lsc_tui_job_done(st->job)) {
        lsc_tui_job_progress(st->job, st->job_what, sizeof st->job_what, &st->job_done, &st->job_total,
                             &st->job_elapsed);
        if (st->job_kind == LSC_JOB_RETRAIN)
            lsc_tui_retrain_job_points(st);
        return LSC_TUI_CH_REDRAW;
    }
    return lsc_tui_state_wait(st);
}

unsigned lsc_tui_state_wait(lsc_tui_state *st)
{
    if (!st->job)
        return 0;
    char *out = NULL, *err = NULL;
    int cancelled = lsc_tui_job_cancelled(st->job);
    if (st->job_kind == LSC_JOB_RETRAIN) { /* a paused job that is waited for must be able to finish */
        lsc_tui_retrain_resume(st);
        while (!lsc_tui_job_done(st->job)) {
            struct timespec ts = {0, 1000000L};
            nanosleep(&ts, NULL);
        }
        lsc_tui_retrain_job_points(st);
    }
    int rc = lsc_tui_job_finish(st->job, &out, &err);
    st->job = NULL;
    st->job_cancelling = 0;
    return job_finished(st, rc, out, err, cancelled);
}

int lsc_tui_state_busy(const lsc_tui_state *st) { return st->job != NULL; }

int lsc_tui_state_working(const lsc_tui_state *st) { return st->job != NULL || lsc_tui_vsbase_running(st); }

unsigned lsc_tui_state_cancel(lsc_tui_state *st)
{
    if (!st->job)
        return 0;
    if (!st->job_cancelling) {
        lsc_tui_job_cancel(st->job);
        st->job_cancelling = 1;
    }
    return LSC_TUI_CH_REDRAW;
}

/* ---- confirmation ------------------------------------------------------------------------------------ */

unsigned lsc_tui_ask(lsc_tui_state *st, const lsc_tui_argv *action, const char *title, const char *question,
                    const char *detail)
{
    if (lsc_tui_vsbase_refuse(st, title)) /* before the question: a yes could not be acted on */
        return LSC_TUI_CH_REDRAW;
    lsc_tui_confirm *c = &st->confirm;
    c->open = 1;
    c->action = *action;
    lsc_tui_copy(c->question, sizeof c->question, question);
    lsc_tui_copy(c->detail, sizeof c->detail, detail);
    lsc_tui_copy(c->title, sizeof c->title, title);
    return LSC_TUI_CH_REDRAW;
}

unsigned lsc_tui_confirm_key(lsc_tui_state *st, int key)
{
    lsc_tui_confirm *c = &st->confirm;
    if (key == 'y' || key == 'Y') {
        c->open = 0;
        return lsc_tui_job_run(st, &c->action, c->title);
    }
    if (key == 'n' || key == 'N' || key == LSC_KEY_ESC || key == 'q' || key == LSC_KEY_ENTER || key == '\r' ||
        key == LSC_KEY_CTRL('c') || key == LSC_KEY_CTRL('g') || key == LSC_KEY_BACKSPACE) {
        c->open = 0;
        lsc_tui_state_msg(st, LSC_MSG_INFO, "not done: nothing changed");
        return LSC_TUI_CH_REDRAW;
    }
    if (key == LSC_KEY_RESIZE)
        return LSC_TUI_CH_RESIZE | LSC_TUI_CH_REDRAW;
    return 0;
}

/* ---- undo, redo, session ----------------------------------------------------------------------------- */

unsigned lsc_tui_undo_request(lsc_tui_state *st, int redo)
{
    if (st->readonly) {
        lsc_tui_state_msg(st, LSC_MSG_ERROR, "the catalog is open read-only: '%s' would change it", redo ? "redo" : "undo");
        return LSC_TUI_CH_REDRAW;
    }
    lsc_tui_argv a = {.kind = redo ? LSC_JOB_REDO : LSC_JOB_UNDO, .argc = 0};
    lsc_tui_argv_add(&a, redo ? "redo" : "undo");
    if (redo)
        return lsc_tui_job_run(st, &a, "redo");
    lsc_tui_load_history(st);
    const lsc_tui_history *h = NULL;
    for (size_t i = 0; i < st->history.n && !h; i++) /* newest first: the first live entry */
        if (!st->history.rows[i].undone)
            h = &st->history.rows[i];
    if (!h) {
        lsc_tui_state_msg(st, LSC_MSG_WARN, "nothing to undo");
        return LSC_TUI_CH_REDRAW;
    }
    char q[512], d[1024], args[LSC_TUI_TEXT_MAX];
    snprintf(q, sizeof q, "undo #%lld %s?", (long long)h->id, h->command);
    lsc_tui_args_text(h->args, args, sizeof args); /* the command line, not the catalog's JSON */
    if (h->outputs[0])
        snprintf(d, sizeof d, "%s %s - affects '%s' (U redoes it)", h->command, args, h->outputs);
    else
        snprintf(d, sizeof d, "%s %s (U redoes it)", h->command, args);
    return lsc_tui_ask(st, &a, "undo", q, d);
}

/* Targets a session script must never replace, even when the user says yes to "overwrite": a FIFO or
 * device (writing would block or go elsewhere), a folder, and an SQLite database or WAL file (the
 * catalog: this process has it open). Says why and returns 1 for those. */
static int session_target_refused(lsc_tui_state *st, const char *file, const struct stat *sb)
{
    const char *why = NULL;
    if (S_ISDIR(sb->st_mode))
        why = "it is a folder";
    else if (!S_ISREG(sb->st_mode))
        why = "it is not a regular file";
    unsigned char head[16] = {0};
    FILE *f = why ? NULL : fopen(file, "rb");
    if (f) {
        size_t n = fread(head, 1, sizeof head, f);
        fclose(f);
        if ((n == 16 && memcmp(head, "SQLite format 3", 16) == 0) ||
            (n >= 4 && head[0] == 0x37 && head[1] == 0x7f && head[2] == 0x06 && (head[3] & 0xfe) == 0x82))
            why = "it is an SQLite database (a catalog?)";
    }
    if (why)
        lsc_tui_state_msg(st, LSC_MSG_ERROR, "cannot save the session to '%s': %s", file, why);
    return why != NULL;
}

unsigned lsc_tui_session_save(lsc_tui_state *st, const char *file)
{
    if (!file || !file[0]) {
        lsc_tui_state_msg(st, LSC_MSG_ERROR, "no file name given");
        return LSC_TUI_CH_REDRAW;
    }
    lsc_tui_copy(st->session_file, sizeof st->session_file, file);
    lsc_tui_argv a = {.kind = LSC_JOB_SAVE, .argc = 0};
    char since[32];
    snprintf(since, sizeof since, "%lld", (long long)st->session_since);
    lsc_tui_argv_add(&a, "log");
    lsc_tui_argv_add(&a, "--script");
    lsc_tui_argv_add(&a, "--since");
    lsc_tui_argv_add(&a, since);
    struct stat sb;
    if (stat(file, &sb) == 0 && session_target_refused(st, file, &sb))
        return LSC_TUI_CH_REDRAW;
    if (stat(file, &sb) == 0) {
        char q[400];
        snprintf(q, sizeof q, "overwrite '%s'?", file);
        return lsc_tui_ask(st, &a, "save session", q, "it holds something already; the session script would replace it");
    }
    return lsc_tui_job_run(st, &a, "save session");
}

lsc_status lsc_tui_argv_check(const lsc_tui_argv *a, lsc_error *err)
{
    const char *argv[LSC_TUI_ARGS_MAX];
    for (int i = 0; i < a->argc && i < LSC_TUI_ARGS_MAX; i++)
        argv[i] = a->argv[i];
    return lsc_tui_command_check(a->argc < LSC_TUI_ARGS_MAX ? a->argc : LSC_TUI_ARGS_MAX, argv, err);
}

void lsc_tui_argv_add_word(void *a, const char *w) { lsc_tui_argv_add(a, w); }
