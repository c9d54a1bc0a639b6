/* tasks.h: multi-task adapters in the command layer: loading a group's task adapters and the figures
 * shown for them (per-task norms, the task x task cosine matrix per layer and overall, tensors the tasks
 * share, the dimension of the input subspace they share). Internal to the command layer. */
#ifndef LSC_CMD_TASKS_H
#define LSC_CMD_TASKS_H

#include <jansson.h>

#include "command.h"

/* 1 if kind (an adapter's kind name, may be NULL) is that of a multi-task group. */
int lsc_is_group(const char *kind);

/* Print (text or JSON) the figures of the multi-task adapter `name` (id) to ctx->out. */
int lsc_tasks_show(lsc_cmd_ctx *ctx, const char *name, int64_t id, const char *glob, int json);

/* Store dst[0..T) (each task's adapter, renamed here to NEW-<task> and derived from the task t[i] it
 * replaces) and their group NEW (format and base model from `like`, metadata_json `meta`, derived from
 * parents[0..n_parents)) inside the caller's transaction; every write is an output of ctx. Returns an
 * exit code with ctx->err set on failure. */
int lsc_tasks_store_group(lsc_cmd_ctx *ctx, const lsc_task_entry *t, lsc_adapter **dst, size_t T, const char *newname,
                          const lsc_adapter *like, const char *meta, const int64_t *parents, size_t n_parents);

/* Write every task of a group as a PEFT multi-adapter folder: DIR/<task>/ (a task named "default" goes
 * in DIR itself), each with its adapter_model.safetensors and adapter_config.json. */
int lsc_tasks_export(lsc_cmd_ctx *ctx, int64_t id, const char *dir, lsc_dtype dt);

/* Aggregate figures of a group for ls: total layers, params and bytes of its tasks; tasks as a JSON
 * array of names (new reference). */
int lsc_tasks_totals(lsc_cmd_ctx *ctx, int64_t id, int64_t *layers, int64_t *params, int64_t *bytes, json_t **names);

#endif
