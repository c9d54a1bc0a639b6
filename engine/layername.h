/* layername.h: how a layer is named to people: one display name per layer, shared by every command, the
 * workbench and JSON, and the natural order layers are listed in.
 *
 * The display name is the stored key (the module path as the adapter's file spells it) with the wrapper
 * prefix that PEFT adds in front of every module left out: "base_model.model.model.layers.0.self_attn.q_proj"
 * shows as "model.layers.0.self_attn.q_proj". Only known wrapper prefixes are dropped, never a prefix that
 * merely happens to be shared by every layer of one adapter ("model." is part of the base model's module
 * path), so the same module of one base shows under the same name in every adapter of that base, and two
 * layers of one adapter never show under the same name. Names in other spellings (kohya "lora_unet_...",
 * llama.cpp "blk.N.attn_q.weight") are shown as stored.
 *
 * Pure string work: no I/O, no allocation except lsc_layername_order. */
#ifndef LSC_LAYERNAME_H
#define LSC_LAYERNAME_H

#include <stddef.h>

#include "adapter.h"

/* The display name of the layer stored under `key`: a pointer into key (a suffix of it), never NULL for a
 * non-NULL key. A key that is nothing but a wrapper prefix is shown whole. */
const char *lsc_layername_display(const char *key);

/* Natural order of two names: runs of decimal digits compare as numbers ("layers.2" < "layers.10"), the
 * rest byte by byte; equal numbers with more leading zeros sort after. Returns <0, 0, >0 like strcmp, and 0
 * only for equal strings. NULL sorts before every string. */
int lsc_layername_cmp(const char *a, const char *b);

/* The layer indices of `ad` in natural order of their display names (ties broken by the stored key, then
 * the index): a malloc'ed array of ad->n_layers entries (at least one element allocated) that the caller
 * frees, or NULL when out of memory. */
size_t *lsc_layername_order(const lsc_adapter *ad);

#endif
