/* lycoris_io.h: the LyCORIS part of the kohya reader and writer (store/kohya.c calls these hooks).
 *
 * LyCORIS writes kohya-style files (`lora_unet_…` / `lora_te_…` module names) with other factor names:
 * LoHa (hada_w1_a, hada_w1_b, hada_w2_a, hada_w2_b, optional hada_t1/hada_t2), LoKr (lokr_w1 or
 * lokr_w1_a/_b, lokr_w2 or lokr_w2_a/_b, optional lokr_t2), LoCon with a Tucker core (lora_mid beside
 * lora_down/lora_up) and DoRA (dora_scale beside any of them), each with an optional scalar alpha. A file
 * may mix kinds per module. Factors are kept as stored (role LSC_ROLE_FACTOR, engine/lycoris_layer.h);
 * dora_scale is the layer's magnitude (LSC_LAYER_DORA: show and spectrum give the low-rank part, as for
 * PEFT DoRA). The algorithms lorascope does not model — (IA)³, GLoRA, OFT/BOFT, full `diff` layers, norm
 * layers — are refused naming the algorithm and the tensor, never dropped.
 * Lives in store/: file formats, never curses or SQLite.
 */
#ifndef LSC_LYCORIS_IO_H
#define LSC_LYCORIS_IO_H

#include <stddef.h>

#include "adapter.h"
#include "safetensors.h"
#include "status.h"

/* Find or create the layer of module name[0..len) (kohya.c's, with its module type and block number). */
typedef lsc_status (*lsc_lycoris_layer_fn)(lsc_adapter *ad, const char *name, size_t len, int *li, lsc_error *err);

/* LSC_ERR_UNSUPPORTED naming the first tensor of an algorithm lorascope does not model ("'f': LyCORIS
 * (IA)³ layer 'm' (tensor 'm.on_input'): not supported"), or of an unknown hada_/lokr_ name. */
lsc_status lsc_lycoris_io_refuse(const lsc_st_file *f, const char *path, lsc_error *err);

/* Classify tensor i of f when it belongs to LyCORIS: a factor (role LSC_ROLE_FACTOR, the layer's family
 * flag set), a dora_scale (LSC_ROLE_MAGNITUDE, LSC_LAYER_DORA) or the alpha of a module that has LyCORIS
 * factors. Returns 1 with *role and *li set when it did, 0 for anything else (the plain kohya rules apply),
 * -1 on an error (*st and err set). */
int lsc_lycoris_io_classify(lsc_adapter *ad, const lsc_st_file *f, size_t i, lsc_lycoris_layer_fn layer_for,
                            lsc_role *role, int *li, lsc_status *st, lsc_error *err);

/* After the plain layers are shaped: check and shape every LyCORIS layer (sizes, rank, the LyCORIS scale
 * from its alpha), every dora_scale against its layer, and rank metadata (ss_network_dim / conv_dim of a
 * LyCORIS network) against the ranks of the tensors. *kind becomes LSC_KIND_LOHA or LSC_KIND_LOKR when the
 * file has such layers (the more numerous; a warning when both), else is left alone. Errors:
 * LSC_ERR_FORMAT, one line naming the file, layer and tensor. */
lsc_status lsc_lycoris_io_finish(lsc_adapter *ad, const lsc_st_file *f, const char *path, lsc_kind *kind,
                                 lsc_error *err);

/* Does LyCORIS layer li still have the scale that `alpha` (the value of its alpha tensor; 0 when it has
 * none) gives under LyCORIS's rule? */
int lsc_lycoris_io_scale_intact(lsc_adapter *ad, size_t li, double alpha);

#endif
