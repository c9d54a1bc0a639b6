/* tests/check-basenames.c: base-model module names (store/basenames.c), kohya -> PEFT export, and module
 * identity across formats (store/modkey.c).
 *
 * The built-in tables are checked against hand-worked names and against the module counts kohya's
 * sd-scripts reports for its default LoRA (SD 1.5: 192 UNet + 72 text encoder modules; SDXL: 722 UNet,
 * 72 + 192 text encoder modules), which follow from the block structure alone. Collisions and
 * unmappable names must fail naming what they are. An SD1.5-shaped kohya adapter (linear and conv
 * layers from down, mid and up blocks and the text encoder; alphas in four dtypes, one missing) is
 * exported to PEFT through the CLI with the built-in table and with --base-names of each kind; the
 * re-imported PEFT folder must give the same dense s*B*A per module to 1e-12 (relative), and `diff`
 * must pair every module with cosine 1.
 */
#include <check.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "adapter.h"
#include "basenames.h"
#include "cli_util.h"
#include "dtype.h"
#include "gguf.h"
#include "kohya.h"
#include "modkey.h"
#include "peft.h"
#include "safetensors.h"
#include "test_tmp.h"

/* ---- resolver on the built-in tables --------------------------------------------------------------- */

static lsc_basenames *builtin(const char *arch)
{
    lsc_basenames *bn = NULL;
    lsc_error e;
    ck_assert_msg(lsc_basenames_builtin(arch, &bn, &e) == LSC_OK, "%s", e.msg);
    return bn;
}

static void resolves(const lsc_basenames *bn, const char *kohya, const char *want)
{
    char out[512];
    lsc_error e;
    ck_assert_msg(lsc_basenames_resolve(bn, kohya, out, sizeof out, &e) == LSC_OK, "%s: %s", kohya, e.msg);
    ck_assert_str_eq(out, want);
}

/* Resolving fails, and the message names the kohya name (and `also` when not NULL). */
static void refuses(const lsc_basenames *bn, const char *kohya, const char *also)
{
    char out[512];
    lsc_error e;
    ck_assert_msg(lsc_basenames_resolve(bn, kohya, out, sizeof out, &e) != LSC_OK, "%s resolved to %s", kohya, out);
    ck_assert_msg(strstr(e.msg, kohya) != NULL, "message does not name %s: %s", kohya, e.msg);
    if (also)
        ck_assert_msg(strstr(e.msg, also) != NULL, "message does not name %s: %s", also, e.msg);
}

START_TEST(sd15_names)
{
    lsc_basenames *bn = builtin("sd15");
    resolves(bn, "lora_unet_down_blocks_0_attentions_0_proj_in", "unet.down_blocks.0.attentions.0.proj_in");
    resolves(bn, "lora_unet_down_blocks_1_attentions_1_transformer_blocks_0_attn2_to_out_0",
             "unet.down_blocks.1.attentions.1.transformer_blocks.0.attn2.to_out.0");
    resolves(bn, "lora_unet_mid_block_attentions_0_transformer_blocks_0_ff_net_0_proj",
             "unet.mid_block.attentions.0.transformer_blocks.0.ff.net.0.proj");
    resolves(bn, "lora_unet_up_blocks_3_attentions_2_proj_out", "unet.up_blocks.3.attentions.2.proj_out");
    resolves(bn, "lora_unet_down_blocks_1_resnets_0_conv_shortcut", "unet.down_blocks.1.resnets.0.conv_shortcut");
    resolves(bn, "lora_unet_up_blocks_0_resnets_2_conv_shortcut", "unet.up_blocks.0.resnets.2.conv_shortcut");
    resolves(bn, "lora_unet_down_blocks_2_downsamplers_0_conv", "unet.down_blocks.2.downsamplers.0.conv");
    resolves(bn, "lora_unet_time_embedding_linear_1", "unet.time_embedding.linear_1");
    resolves(bn, "lora_te_text_model_encoder_layers_11_self_attn_q_proj",
             "text_encoder.text_model.encoder.layers.11.self_attn.q_proj");
    resolves(bn, "lora_te_text_model_encoder_layers_0_mlp_fc2", "text_encoder.text_model.encoder.layers.0.mlp.fc2");
    /* modules SD 1.5 does not have */
    refuses(bn, "lora_unet_down_blocks_0_resnets_0_conv_shortcut", NULL);   /* 320 -> 320: no shortcut */
    refuses(bn, "lora_unet_down_blocks_3_attentions_0_proj_in", NULL);      /* the last down block has none */
    refuses(bn, "lora_unet_down_blocks_3_downsamplers_0_conv", NULL);       /* nor a downsampler */
    refuses(bn, "lora_unet_up_blocks_3_upsamplers_0_conv", NULL);
    refuses(bn, "lora_unet_add_embedding_linear_1", NULL);                  /* SDXL only */
    refuses(bn, "lora_te_text_model_encoder_layers_12_self_attn_q_proj", NULL);
    refuses(bn, "lora_unet_down_blocks_0_attentions_0_transformer_blocks_1_attn1_to_q", NULL);
    refuses(bn, "unet.down_blocks.0.attentions.0.proj_in", NULL);           /* not a kohya name */
    lsc_basenames_free(bn);
    bn = builtin("sd2"); /* the same UNet; OpenCLIP-H's 23 kept layers */
    resolves(bn, "lora_te_text_model_encoder_layers_22_self_attn_v_proj",
             "text_encoder.text_model.encoder.layers.22.self_attn.v_proj");
    refuses(bn, "lora_te_text_model_encoder_layers_23_self_attn_v_proj", NULL);
    lsc_basenames_free(bn);
}
END_TEST

START_TEST(sdxl_names)
{
    lsc_basenames *bn = builtin("sdxl");
    resolves(bn, "lora_unet_down_blocks_2_attentions_1_transformer_blocks_9_attn1_to_k",
             "unet.down_blocks.2.attentions.1.transformer_blocks.9.attn1.to_k");
    resolves(bn, "lora_unet_up_blocks_0_attentions_2_transformer_blocks_9_ff_net_2",
             "unet.up_blocks.0.attentions.2.transformer_blocks.9.ff.net.2");
    resolves(bn, "lora_unet_up_blocks_1_attentions_0_transformer_blocks_1_attn2_to_v",
             "unet.up_blocks.1.attentions.0.transformer_blocks.1.attn2.to_v");
    resolves(bn, "lora_unet_mid_block_attentions_0_transformer_blocks_9_attn2_to_q",
             "unet.mid_block.attentions.0.transformer_blocks.9.attn2.to_q");
    resolves(bn, "lora_unet_add_embedding_linear_2", "unet.add_embedding.linear_2");
    resolves(bn, "lora_te1_text_model_encoder_layers_11_mlp_fc2", "text_encoder.text_model.encoder.layers.11.mlp.fc2");
    resolves(bn, "lora_te2_text_model_encoder_layers_31_self_attn_out_proj",
             "text_encoder_2.text_model.encoder.layers.31.self_attn.out_proj");
    resolves(bn, "lora_te2_text_projection", "text_encoder_2.text_projection");
    refuses(bn, "lora_unet_down_blocks_0_attentions_0_proj_in", NULL); /* SDXL's first block has no attention */
    refuses(bn, "lora_unet_down_blocks_2_attentions_0_transformer_blocks_10_attn1_to_q", NULL);
    refuses(bn, "lora_unet_up_blocks_2_attentions_0_proj_in", NULL);
    refuses(bn, "lora_unet_down_blocks_3_resnets_0_conv1", NULL);
    refuses(bn, "lora_te2_text_model_encoder_layers_32_mlp_fc1", NULL);
    refuses(bn, "lora_te1_text_projection", NULL);
    lsc_basenames_free(bn);
}
END_TEST

START_TEST(llama_names)
{
    lsc_basenames *bn = builtin("llama");
    resolves(bn, "lora_te_model_layers_0_self_attn_q_proj", "model.layers.0.self_attn.q_proj");
    resolves(bn, "lora_te_model_layers_127_mlp_down_proj", "model.layers.127.mlp.down_proj");
    resolves(bn, "lora_te_lm_head", "lm_head");
    refuses(bn, "lora_te_model_layers_0_self_attn_out_proj", NULL); /* CLIP's name, not llama's */
    refuses(bn, "lora_te_model_layers_128_mlp_up_proj", NULL);
    lsc_basenames_free(bn);
}
END_TEST

/* Does a module path end in one of the names? */
static int ends_in(const char *s, const char *const *suffixes)
{
    size_t n = strlen(s);
    for (size_t i = 0; suffixes[i]; i++) {
        size_t k = strlen(suffixes[i]);
        if (n > k && s[n - k - 1] == '.' && strcmp(s + n - k, suffixes[i]) == 0)
            return 1;
    }
    return 0;
}

/* Count the table's modules that kohya's default LoRA adapts: in the UNet, every Linear of a
 * Transformer2DModel (proj_in/out included); in a text encoder, the attention and MLP Linears. */
static void kohya_counts(const char *arch, const char *comp, int want)
{
    static const char *const unet_t[] = {"proj_in", "proj_out", "to_q", "to_k", "to_v", "0", "proj", "2", NULL};
    static const char *const te_t[] = {"q_proj", "k_proj", "v_proj", "out_proj", "fc1", "fc2", NULL};
    lsc_basenames *bn = builtin(arch);
    char name[512], pre[64];
    snprintf(pre, sizeof pre, "%s.", comp);
    int count = 0;
    for (size_t i = 0; i < lsc_basenames_count(bn); i++) {
        ck_assert_int_eq(lsc_basenames_name(bn, i, name, sizeof name), 0);
        if (strncmp(name, pre, strlen(pre)) != 0)
            continue;
        if (strcmp(comp, "unet") == 0)
            count += strstr(name, ".attentions.") && ends_in(name, unet_t) && !strstr(name, "norm");
        else
            count += strstr(name, ".encoder.layers.") && ends_in(name, te_t);
    }
    ck_assert_msg(count == want, "%s %s: %d modules, kohya counts %d", arch, comp, count, want);
    lsc_basenames_free(bn);
}

START_TEST(kohya_module_counts)
{
    kohya_counts("sd15", "unet", 192);
    kohya_counts("sd15", "text_encoder", 72);
    kohya_counts("sd2", "text_encoder", 23 * 6);
    kohya_counts("sdxl", "unet", 722);
    kohya_counts("sdxl", "text_encoder", 72);
    kohya_counts("sdxl", "text_encoder_2", 192);
    /* the whole SD 1.5 table, counted by hand from the block structure: UNet 5 top-level + 141 down + 26 mid
     * + 219 up = 391 modules, CLIP 2 embeddings + 12 x 8 + final norm = 99 */
    lsc_basenames *bn = builtin("sd15");
    ck_assert_uint_eq(lsc_basenames_count(bn), 490);
    lsc_basenames_free(bn);
    lsc_error e;
    ck_assert_int_ne(lsc_basenames_builtin("sd3", &bn, &e), LSC_OK);
    ck_assert_ptr_nonnull(strstr(e.msg, "'sd3'"));
}
END_TEST

/* ---- name sets from files -------------------------------------------------------------------------- */

static void write_text(const char *file, const char *text)
{
    ck_assert_int_eq(cli_write(tpath(file), text, strlen(text)), 0);
}

static lsc_basenames *load_ok(const char *file)
{
    lsc_basenames *bn = NULL;
    lsc_error e;
    ck_assert_msg(lsc_basenames_load(tpath(file), &bn, &e) == LSC_OK, "%s", e.msg);
    return bn;
}

static void load_fails(const char *file, const char *needle)
{
    lsc_basenames *bn = NULL;
    lsc_error e;
    ck_assert_int_ne(lsc_basenames_load(tpath(file), &bn, &e), LSC_OK);
    ck_assert_msg(strstr(e.msg, needle) != NULL, "'%s' not in: %s", needle, e.msg);
    ck_assert_msg(strchr(e.msg, '\n') == NULL, "two lines: %s", e.msg);
}

START_TEST(collisions)
{
    /* two modules flatten to down_blocks_0_x: the name is ambiguous and both are named */
    write_text("list.txt", "down_blocks.0.x\ndown.blocks_0.x\nfoo_bar.baz\nfoo.bar_qux\n");
    lsc_basenames *bn = load_ok("list.txt");
    ck_assert_uint_eq(lsc_basenames_count(bn), 4);
    refuses(bn, "lora_unet_down_blocks_0_x", "'down.blocks_0.x'");
    refuses(bn, "lora_unet_down_blocks_0_x", "'down_blocks.0.x'");
    resolves(bn, "lora_unet_foo_bar_baz", "unet.foo_bar.baz");
    resolves(bn, "lora_unet_foo_bar_qux", "unet.foo.bar_qux");
    refuses(bn, "lora_unet_foo_bar", NULL);
    lsc_basenames_free(bn);
    /* three ways to one flat name: still refused, naming the first and another */
    write_text("three.txt", "p.q.r\np_q.r\np.q_r\n");
    bn = load_ok("three.txt");
    refuses(bn, "lora_unet_p_q_r", "'p.q.r'");
    refuses(bn, "lora_unet_p_q_r", "' and '");
    lsc_basenames_free(bn);
    /* the same module written as a tensor and as a module is one name, not a collision */
    write_text("dup.txt", "a.b_c.weight\na.b_c.bias\na.b_c\n");
    bn = load_ok("dup.txt");
    ck_assert_uint_eq(lsc_basenames_count(bn), 1);
    resolves(bn, "lora_unet_a_b_c", "unet.a.b_c");
    lsc_basenames_free(bn);
}
END_TEST

/* Write a safetensors file of F32 [1] tensors with the given names. */
static void write_names_st(const char *file, const char *const *names, size_t n)
{
    lsc_st_out outs[32];
    int64_t one = 1;
    for (size_t i = 0; i < n; i++) {
        outs[i].name = names[i];
        outs[i].dtype = LSC_DT_F32;
        outs[i].ndim = 1;
        outs[i].shape = &one;
    }
    lsc_st_writer *w = NULL;
    lsc_error e;
    ck_assert_msg(lsc_st_writer_begin(tpath(file), outs, n, NULL, NULL, 0, &w, &e) == LSC_OK, "%s", e.msg);
    float z = 0;
    for (size_t i = 0; i < n; i++)
        ck_assert_int_eq(lsc_st_writer_put(w, &z, 4, &e), LSC_OK);
    ck_assert_msg(lsc_st_writer_finish(w, &e) == LSC_OK, "%s", e.msg);
}

START_TEST(load_kinds)
{
    static const char *const tensors[] = {"down_blocks.0.attentions.0.proj_in.weight",
                                          "down_blocks.0.attentions.0.proj_in.bias",
                                          "text_model.encoder.layers.0.self_attn.q_proj.weight",
                                          "model.layers.0.mlp.up_proj.weight"};
    write_names_st("base.safetensors", tensors, 4);
    lsc_basenames *bn = load_ok("base.safetensors");
    ck_assert_uint_eq(lsc_basenames_count(bn), 3);
    resolves(bn, "lora_unet_down_blocks_0_attentions_0_proj_in", "unet.down_blocks.0.attentions.0.proj_in");
    /* a bare CLIP text model is the pipeline's text encoder; a bare language model stays bare */
    resolves(bn, "lora_te_text_model_encoder_layers_0_self_attn_q_proj",
             "text_encoder.text_model.encoder.layers.0.self_attn.q_proj");
    resolves(bn, "lora_te_model_layers_0_mlp_up_proj", "model.layers.0.mlp.up_proj");
    resolves(bn, "lora_te2_text_model_encoder_layers_0_self_attn_q_proj",
             "text_encoder_2.text_model.encoder.layers.0.self_attn.q_proj");
    lsc_basenames_free(bn);

    write_text("model.safetensors.index.json",
               "{\"metadata\": {\"total_size\": 8}, \"weight_map\": {\"model.layers.0.self_attn.q_proj.weight\": "
               "\"model-00001-of-00002.safetensors\", \"model.layers.1.self_attn.q_proj.weight\": "
               "\"model-00002-of-00002.safetensors\", \"lm_head.weight\": \"model-00002-of-00002.safetensors\"}}");
    bn = load_ok("model.safetensors.index.json");
    ck_assert_uint_eq(lsc_basenames_count(bn), 3);
    resolves(bn, "lora_te_model_layers_1_self_attn_q_proj", "model.layers.1.self_attn.q_proj");
    lsc_basenames_free(bn);

    write_text("names.txt", "# SD 1.5 pieces\r\n  unet.down_blocks.0.attentions.0.proj_in  \r\n\r\n"
                            "text_encoder.text_model.encoder.layers.0.self_attn.q_proj\r\n");
    bn = load_ok("names.txt");
    ck_assert_uint_eq(lsc_basenames_count(bn), 2);
    resolves(bn, "lora_unet_down_blocks_0_attentions_0_proj_in", "unet.down_blocks.0.attentions.0.proj_in");
    refuses(bn, "lora_te2_text_model_encoder_layers_0_self_attn_q_proj", NULL); /* a component name is its own */
    lsc_basenames_free(bn);

    /* a base checkpoint of gigabytes: only its header is read (a sparse 1.2 GB file: its data is a hole) */
    const char *hdr = "{\"down_blocks.0.resnets.0.conv1.weight\": {\"dtype\": \"F32\", \"shape\": [300000000], "
                      "\"data_offsets\": [0, 1200000000]}}";
    size_t hl = (strlen(hdr) + 7) / 8 * 8;
    unsigned char len8[8];
    for (int i = 0; i < 8; i++)
        len8[i] = (unsigned char)((uint64_t)hl >> (8 * i));
    FILE *fp = fopen(tpath("big.safetensors"), "wb");
    ck_assert_ptr_nonnull(fp);
    fwrite(len8, 1, 8, fp);
    fprintf(fp, "%-*s", (int)hl, hdr);
    ck_assert_int_eq(ftruncate(fileno(fp), (off_t)(8 + hl + 1200000000ull)), 0);
    fclose(fp);
    bn = load_ok("big.safetensors");
    resolves(bn, "lora_unet_down_blocks_0_resnets_0_conv1", "unet.down_blocks.0.resnets.0.conv1");
    lsc_basenames_free(bn);

    /* rejections: each one line naming the file and, for a list, the line */
    write_text("bad.txt", "unet.a\nunet.b c\n");
    load_fails("bad.txt", "line 2");
    write_text("empty.txt", "# nothing\n\n");
    load_fails("empty.txt", "no module names");
    write_text("noweights.json", "{\"metadata\": {}}");
    load_fails("noweights.json", "weight_map");
    write_text("broken.json", "{\"weight_map\": {");
    load_fails("broken.json", "broken.json");
    ck_assert_int_eq(cli_write(tpath("bin.dat"), "ab\0cd\n", 6), 0);
    load_fails("bin.dat", "binary");
    load_fails("missing.txt", "missing.txt");
    /* a safetensors header that lies about its data is refused by the safetensors reader */
    unsigned char st[] = {14, 0, 0, 0, 0, 0, 0, 0, '{', '"', 'a', '"', ':', '{', '}', '}', ' ', ' ', ' ', ' ', ' ', ' '};
    ck_assert_int_eq(cli_write(tpath("lie.safetensors"), st, sizeof st), 0);
    load_fails("lie.safetensors", "lie.safetensors");
}
END_TEST

/* ---- module identity and base tensors -------------------------------------------------------------- */

static void same_key(const char *a, const char *b)
{
    char ka[1024], kb[1024];
    ck_assert_int_eq(lsc_modkey_canonical(a, ka, sizeof ka), 0);
    ck_assert_int_eq(lsc_modkey_canonical(b, kb, sizeof kb), 0);
    ck_assert_msg(strcmp(ka, kb) == 0, "%s -> %s but %s -> %s", a, ka, b, kb);
}

static void base_tensor(const char *layer, const lsc_basenames *bn, const char *want)
{
    char out[1024];
    lsc_error e;
    ck_assert_msg(lsc_modkey_base_tensor(layer, bn, out, sizeof out, &e) == LSC_OK, "%s: %s", layer, e.msg);
    ck_assert_str_eq(out, want);
}

START_TEST(identity_across_formats)
{
    /* kohya and its PEFT twins: diffusers' pipeline layout, a bare PEFT UNet, SDXL's two encoders, llama */
    same_key("lora_unet_down_blocks_0_attentions_0_proj_in", "unet.down_blocks.0.attentions.0.proj_in");
    same_key("lora_unet_down_blocks_0_attentions_0_proj_in", "base_model.model.down_blocks.0.attentions.0.proj_in");
    same_key("lora_unet_mid_block_resnets_0_conv1", "base_model.model.mid_block.resnets.0.conv1");
    same_key("lora_unet_conv_in", "base_model.model.conv_in");
    same_key("lora_te1_text_model_encoder_layers_0_mlp_fc1", "text_encoder.text_model.encoder.layers.0.mlp.fc1");
    same_key("lora_te2_text_model_encoder_layers_0_mlp_fc1", "text_encoder_2.text_model.encoder.layers.0.mlp.fc1");
    same_key("lora_te_text_model_encoder_layers_0_mlp_fc1", "base_model.model.text_model.encoder.layers.0.mlp.fc1");
    same_key("lora_te_model_layers_3_self_attn_q_proj", "base_model.model.model.layers.3.self_attn.q_proj");
    same_key("blk.3.attn_q.weight", "base_model.model.model.layers.3.self_attn.q_proj");
    same_key("blk.3.ffn_down.weight", "lora_te_model_layers_3_mlp_down_proj");

    lsc_basenames *sd = builtin("sd15"), *ll = builtin("llama");
    base_tensor("base_model.model.model.layers.0.self_attn.q_proj", NULL, "model.layers.0.self_attn.q_proj.weight");
    base_tensor("blk.0.attn_q.weight", NULL, "model.layers.0.self_attn.q_proj.weight");
    base_tensor("lora_te_model_layers_0_self_attn_q_proj", ll, "model.layers.0.self_attn.q_proj.weight");
    base_tensor("lora_unet_down_blocks_1_attentions_0_transformer_blocks_0_attn2_to_out_0", sd,
                "unet.down_blocks.1.attentions.0.transformer_blocks.0.attn2.to_out.0.weight");
    base_tensor("unet.down_blocks.1.attentions.0.proj_in", NULL, "unet.down_blocks.1.attentions.0.proj_in.weight");
    base_tensor("lora_te_text_model_encoder_layers_2_mlp_fc1", sd,
                "text_encoder.text_model.encoder.layers.2.mlp.fc1.weight");
    char out[256];
    lsc_error e;
    ck_assert_int_eq(lsc_modkey_base_tensor("lora_unet_conv_in", NULL, out, sizeof out, &e), LSC_ERR_UNSUPPORTED);
    ck_assert_ptr_nonnull(strstr(e.msg, "'lora_unet_conv_in'"));
    ck_assert_int_ne(lsc_modkey_base_tensor("lora_unet_nowhere", sd, out, sizeof out, &e), LSC_OK);
    ck_assert_ptr_nonnull(strstr(e.msg, "lora_unet_nowhere"));
    ck_assert_uint_eq(lsc_modkey_component_len("unet.conv_in.weight"), 5);
    ck_assert_uint_eq(lsc_modkey_component_len("text_encoder_2.text_projection.weight"), 15);
    ck_assert_uint_eq(lsc_modkey_component_len("model.layers.0.mlp.up_proj.weight"), 0);
    lsc_basenames_free(sd);
    lsc_basenames_free(ll);
}
END_TEST

/* ---- kohya -> PEFT ----------------------------------------------------------------------------------- */

typedef struct kspec {
    const char *name;  /* kohya module */
    const char *path;  /* its module path, worked out by hand */
    lsc_dtype dt, adt; /* factors' dtype, alpha's dtype (LSC_DT_INVALID: no alpha) */
    int r, out, in, kh, kw;
    double alpha;
} kspec;

/* An SD1.5-shaped adapter: down, mid and up blocks, attention, feed-forward, resnet convs (3x3 and 1x1),
 * a downsampler and the text encoder; ranks 2..5, alphas F16/F32/BF16/I64 and one missing (alpha = r). */
static const kspec sd15_layers[] = {
    {"lora_unet_down_blocks_0_attentions_0_proj_in", "unet.down_blocks.0.attentions.0.proj_in", LSC_DT_F32,
     LSC_DT_F16, 4, 6, 8, 0, 0, 2.0},
    {"lora_unet_down_blocks_1_attentions_1_transformer_blocks_0_attn2_to_out_0",
     "unet.down_blocks.1.attentions.1.transformer_blocks.0.attn2.to_out.0", LSC_DT_F16, LSC_DT_F32, 2, 8, 8, 0, 0,
     0.1},
    {"lora_unet_mid_block_resnets_0_conv1", "unet.mid_block.resnets.0.conv1", LSC_DT_F32, LSC_DT_BF16, 2, 5, 3, 3, 3,
     1.0},
    {"lora_unet_up_blocks_3_attentions_2_transformer_blocks_0_ff_net_0_proj",
     "unet.up_blocks.3.attentions.2.transformer_blocks.0.ff.net.0.proj", LSC_DT_BF16, LSC_DT_INVALID, 5, 10, 6, 0, 0,
     0},
    {"lora_unet_down_blocks_2_downsamplers_0_conv", "unet.down_blocks.2.downsamplers.0.conv", LSC_DT_F32, LSC_DT_I64,
     3, 5, 4, 3, 3, 8},
    {"lora_unet_up_blocks_1_resnets_2_conv_shortcut", "unet.up_blocks.1.resnets.2.conv_shortcut", LSC_DT_F16,
     LSC_DT_F16, 3, 4, 6, 1, 1, 1.5},
    {"lora_te_text_model_encoder_layers_11_self_attn_q_proj",
     "text_encoder.text_model.encoder.layers.11.self_attn.q_proj", LSC_DT_F32, LSC_DT_F32, 4, 8, 8, 0, 0, 4.0},
};
#define N_SD15 (sizeof sd15_layers / sizeof sd15_layers[0])

static double fval(int t, size_t i)
{
    return sin(t * 1.3 + (double)i * 0.77) * 0.75;
}

typedef struct stt {
    char name[200];
    lsc_dtype dt;
    int ndim;
    int64_t shape[4];
    double scalar;
    int is_scalar;
} stt;

static void write_kohya_meta(const char *file, const kspec *ks, size_t n, int extra, const char *base_version);

/* Write the kohya file for layers ks[0..n) (plus one extra tensor when `extra`). */
static void write_kohya(const char *file, const kspec *ks, size_t n, int extra)
{
    write_kohya_meta(file, ks, n, extra, NULL);
}

/* write_kohya with ss_base_model_version = base_version when it is not NULL. */
static void write_kohya_meta(const char *file, const kspec *ks, size_t n, int extra, const char *base_version)
{
    stt t[64];
    size_t nt = 0;
    for (size_t i = 0; i < n; i++) {
        const kspec *k = &ks[i];
        int conv = k->kh > 0;
        if (k->adt != LSC_DT_INVALID) {
            t[nt] = (stt){.dt = k->adt, .ndim = 0, .scalar = k->alpha, .is_scalar = 1};
            snprintf(t[nt++].name, sizeof t[0].name, "%s.alpha", k->name);
        }
        t[nt] = (stt){.dt = k->dt, .ndim = conv ? 4 : 2, .shape = {k->r, k->in, k->kh, k->kw}};
        snprintf(t[nt++].name, sizeof t[0].name, "%s.lora_down.weight", k->name);
        t[nt] = (stt){.dt = k->dt, .ndim = conv ? 4 : 2, .shape = {k->out, k->r, 1, 1}};
        snprintf(t[nt++].name, sizeof t[0].name, "%s.lora_up.weight", k->name);
    }
    if (extra) {
        t[nt] = (stt){.dt = LSC_DT_F32, .ndim = 1, .shape = {3}};
        snprintf(t[nt++].name, sizeof t[0].name, "%s", "some_extra.weight");
    }
    lsc_st_out outs[64];
    for (size_t i = 0; i < nt; i++)
        outs[i] = (lsc_st_out){.name = t[i].name, .dtype = t[i].dt, .ndim = t[i].ndim, .shape = t[i].shape};
    const char *mk[] = {"ss_network_module", "ss_base_model_version"}, *mv[] = {"networks.lora", base_version};
    lsc_st_writer *w = NULL;
    lsc_error e;
    ck_assert_msg(lsc_st_writer_begin(tpath(file), outs, nt, mk, mv, base_version ? 2 : 1, &w, &e) == LSC_OK, "%s",
                  e.msg);
    for (size_t i = 0; i < nt; i++) {
        size_t cnt = 1;
        for (int d = 0; d < t[i].ndim; d++)
            cnt *= (size_t)t[i].shape[d];
        size_t sz = lsc_dtype_size(t[i].dt);
        unsigned char *buf = calloc(cnt, sz);
        if (t[i].dt == LSC_DT_I64) {
            int64_t v = (int64_t)t[i].scalar;
            for (int b = 0; b < 8; b++)
                buf[b] = (unsigned char)((uint64_t)v >> (8 * b));
        } else {
            double *d = malloc(cnt * sizeof *d);
            for (size_t k = 0; k < cnt; k++)
                d[k] = t[i].is_scalar ? t[i].scalar : fval((int)i, k);
            ck_assert_int_eq(lsc_dtype_from_double(t[i].dt, d, cnt, buf, NULL), LSC_OK);
            free(d);
        }
        ck_assert_msg(lsc_st_writer_put(w, buf, cnt * sz, &e) == LSC_OK, "%s", e.msg);
        free(buf);
    }
    ck_assert_msg(lsc_st_writer_finish(w, &e) == LSC_OK, "%s", e.msg);
}


/* The PEFT folder `dir` holds, for every layer of the kohya file, the module worked out by hand, with the
 * same dense delta to 1e-12 relative, and nothing else (plus the extra). */
static void same_delta(const char *kohya_file, const char *dir, const kspec *ks, size_t n)
{
    lsc_adapter *k = NULL, *p = NULL;
    lsc_error e;
    ck_assert_msg(lsc_kohya_read(kohya_file, &k, &e) == LSC_OK, "%s", e.msg);
    ck_assert_msg(lsc_peft_read(dir, &p, &e) == LSC_OK, "%s", e.msg);
    ck_assert_uint_eq(p->n_layers, n);
    for (size_t i = 0; i < n; i++) {
        int ki = lsc_adapter_find_layer(k, ks[i].name), pi = lsc_adapter_find_layer(p, ks[i].path);
        ck_assert_msg(ki >= 0 && pi >= 0, "layer %s / %s missing", ks[i].name, ks[i].path);
        int64_t r1, c1, r2, c2;
        double *d1 = tmp_dense_delta(k, (size_t)ki, &r1, &c1), *d2 = tmp_dense_delta(p, (size_t)pi, &r2, &c2);
        ck_assert(r1 == r2 && c1 == c2);
        double num = 0, den = 0;
        for (int64_t j = 0; j < r1 * c1; j++) {
            num += (d1[j] - d2[j]) * (d1[j] - d2[j]);
            den += d1[j] * d1[j];
        }
        ck_assert_msg(den > 0 && sqrt(num / den) <= 1e-12, "%s: relative difference %g", ks[i].path,
                      sqrt(num / den));
        ck_assert_uint_eq(p->layers[pi].flags & LSC_LAYER_CONV, ks[i].kh ? LSC_LAYER_CONV : 0);
        free(d1);
        free(d2);
    }
    lsc_adapter_free(k);
    lsc_adapter_free(p);
}

/* Read the kohya file NAME of the test folder and pick its base-name table, which must be `want`; the
 * table goes to *bn (lsc_basenames_free), the adapter is returned (lsc_adapter_free). */
static lsc_adapter *read_picked(const char *name, const char *want, lsc_basenames **bn)
{
    lsc_adapter *k = NULL;
    lsc_error e;
    const char *chosen = NULL;
    ck_assert_msg(lsc_kohya_read(tpath(name), &k, &e) == LSC_OK, "%s", e.msg);
    ck_assert_msg(lsc_basenames_pick(k, NULL, NULL, bn, &chosen, &e) == LSC_OK, "%s", e.msg);
    ck_assert_str_eq(chosen, want);
    return k;
}

START_TEST(to_peft_store)
{
    write_kohya("sd15.safetensors", sd15_layers, N_SD15, 1);
    lsc_error e;
    lsc_basenames *bn = NULL;
    lsc_adapter *k = read_picked("sd15.safetensors", "sd15", &bn);
    lsc_adapter *p = NULL;
    ck_assert_msg(lsc_basenames_kohya_to_peft(k, bn, &p, &e) == LSC_OK, "%s", e.msg);
    ck_assert_msg(lsc_peft_write(p, tpath("out"), LSC_DT_INVALID, &e) == LSC_OK, "%s", e.msg);
    lsc_adapter_free(p);
    lsc_adapter_free(k);
    lsc_basenames_free(bn);
    same_delta(tpath("sd15.safetensors"), tpath("out"), sd15_layers, N_SD15);

    /* the config names exactly the adapted modules and records the ranks and alphas that differ */
    json_error_t je;
    json_t *cfg = json_load_file(tpath("out/adapter_config.json"), 0, &je);
    ck_assert_ptr_nonnull(cfg);
    json_t *tm = json_object_get(cfg, "target_modules");
    ck_assert_uint_eq(json_array_size(tm), N_SD15);
    int found = 0;
    for (size_t i = 0; i < json_array_size(tm); i++)
        found += strcmp(json_string_value(json_array_get(tm, i)), "down_blocks.0.attentions.0.proj_in") == 0;
    ck_assert_int_eq(found, 1);
    ck_assert_uint_gt(json_object_size(json_object_get(cfg, "rank_pattern")), 0);
    ck_assert_uint_gt(json_object_size(json_object_get(cfg, "alpha_pattern")), 0);
    json_decref(cfg);
    /* the extra tensor is kept, the kohya alphas are folded into the config */
    lsc_st_file *f = NULL;
    ck_assert_msg(lsc_st_open(tpath("out/adapter_model.safetensors"), &f, &e) == LSC_OK, "%s", e.msg);
    ck_assert_int_ge(lsc_st_find(f, "some_extra.weight"), 0);
    ck_assert_int_ge(lsc_st_find(f, "unet.mid_block.resnets.0.conv1.lora_A.weight"), 0);
    ck_assert_int_ge(lsc_st_find(f, "text_encoder.text_model.encoder.layers.11.self_attn.q_proj.lora_B.weight"), 0);
    ck_assert_uint_eq(f->n_tensors, 2 * N_SD15 + 1);
    lsc_st_close(f);
}
END_TEST

/* The table picked for a one-layer file whose module SD 1.5, SD 2 and SDXL all have. */
static void picks(const char *base_version, const char *want)
{
    static const kspec both[] = {{"lora_unet_down_blocks_1_attentions_0_transformer_blocks_0_attn1_to_q", "",
                                  LSC_DT_F32, LSC_DT_F32, 2, 4, 4, 0, 0, 2}};
    write_kohya_meta("both.safetensors", both, 1, 0, base_version);
    lsc_basenames *bn = NULL;
    lsc_adapter *k = read_picked("both.safetensors", want, &bn);
    lsc_basenames_free(bn);
    lsc_adapter_free(k);
}

/* An SDXL-shaped adapter: both text encoders, a 10-deep transformer block and the added embedding. */
static const kspec sdxl_layers[] = {
    {"lora_te1_text_model_encoder_layers_0_self_attn_k_proj", "text_encoder.text_model.encoder.layers.0.self_attn.k_proj",
     LSC_DT_F16, LSC_DT_F16, 4, 8, 8, 0, 0, 1.0},
    {"lora_te2_text_model_encoder_layers_31_mlp_fc2", "text_encoder_2.text_model.encoder.layers.31.mlp.fc2", LSC_DT_F16,
     LSC_DT_F16, 2, 6, 10, 0, 0, 1.0},
    {"lora_unet_down_blocks_2_attentions_1_transformer_blocks_9_attn2_to_k",
     "unet.down_blocks.2.attentions.1.transformer_blocks.9.attn2.to_k", LSC_DT_BF16, LSC_DT_BF16, 3, 5, 7, 0, 0, 3.0},
    {"lora_unet_add_embedding_linear_1", "unet.add_embedding.linear_1", LSC_DT_F32, LSC_DT_F32, 2, 4, 9, 0, 0, 0.5},
};

START_TEST(to_peft_sdxl)
{
    const size_t n = sizeof sdxl_layers / sizeof sdxl_layers[0];
    write_kohya("xl.safetensors", sdxl_layers, n, 0);
    lsc_error e;
    lsc_basenames *bn = NULL;
    lsc_adapter *k = read_picked("xl.safetensors", "sdxl", &bn), *p = NULL;
    ck_assert_msg(lsc_basenames_kohya_to_peft(k, bn, &p, &e) == LSC_OK, "%s", e.msg);
    ck_assert_msg(lsc_peft_write(p, tpath("xl"), LSC_DT_INVALID, &e) == LSC_OK, "%s", e.msg);
    lsc_adapter_free(p);
    lsc_adapter_free(k);
    lsc_basenames_free(bn);
    same_delta(tpath("xl.safetensors"), tpath("xl"), sdxl_layers, n);
    /* the SD 1.5 table has neither the add_embedding nor a 10-deep block: refused, naming a layer */
    ck_assert_msg(lsc_kohya_read(tpath("xl.safetensors"), &k, &e) == LSC_OK, "%s", e.msg);
    ck_assert_int_eq(lsc_basenames_builtin("sd15", &bn, &e), LSC_OK);
    ck_assert_int_eq(lsc_basenames_kohya_to_peft(k, bn, &p, &e), LSC_ERR_INVALID);
    ck_assert_msg(strstr(e.msg, "'lora_unet_") != NULL || strstr(e.msg, "'lora_te2_") != NULL, "%s", e.msg);
    lsc_adapter_free(k);
    lsc_basenames_free(bn);
}
END_TEST

START_TEST(pick_from_metadata)
{
    picks(NULL, "sd15");
    picks("sd_v1", "sd15");
    picks("sd_v2_768_v", "sd2");
    picks("sdxl_base_v1-0", "sdxl");
    /* the metadata only orders the tables: an SD 1.5 file that says SDXL still gets the table that fits */
    static const kspec sd_only[] = {{"lora_unet_down_blocks_0_attentions_0_proj_in", "", LSC_DT_F32, LSC_DT_F32, 2,
                                     4, 4, 0, 0, 2}};
    write_kohya_meta("sd.safetensors", sd_only, 1, 0, "sdxl_base_v1-0");
    lsc_basenames *bn = NULL;
    lsc_adapter *k = read_picked("sd.safetensors", "sd15", &bn);
    lsc_basenames_free(bn);
    lsc_adapter_free(k);
}
END_TEST

/* ---- through the CLI ------------------------------------------------------------------------------- */

static void run_ok(cli_result *r)
{
    ck_assert_msg(r->code == 0, "exit %d: %s", r->code, r->err);
}

/* `diff --json` of a and b pairs all n layers with cosine 1 (`across` of them under another name). */
static void diff_pairs_all(const char *cat, const char *a, const char *b, size_t n, size_t across)
{
    cli_result r = cli_run(cat, "diff", a, b, "--json", NULL);
    run_ok(&r);
    json_error_t je;
    json_t *j = json_loads(r.out, 0, &je);
    ck_assert_msg(j != NULL, "not JSON: %s", r.out);
    json_t *layers = json_object_get(j, "layers");
    ck_assert_uint_eq(json_array_size(layers), n);
    for (size_t i = 0; i < n; i++) {
        double c = json_number_value(json_object_get(json_array_get(layers, i), "cosine"));
        double d = json_number_value(json_object_get(json_array_get(layers, i), "rel_diff"));
        ck_assert_msg(fabs(c - 1.0) <= 1e-12, "layer %zu: cosine %.17g", i, c);
        ck_assert_msg(d <= 1e-12, "layer %zu: relative difference %.3g", i, d); /* the scale too */
    }
    ck_assert_uint_eq(json_array_size(json_object_get(j, "only_in_a")), 0);
    ck_assert_uint_eq(json_array_size(json_object_get(j, "only_in_b")), 0);
    json_t *sum = json_object_get(j, "summary");
    ck_assert_int_eq(json_integer_value(json_object_get(sum, "matched_across_formats")), (json_int_t)across);
    json_decref(j);
    cli_result_free(&r);
}

static void diff_all_one(const char *cat, const char *a, const char *b, size_t n)
{
    diff_pairs_all(cat, a, b, n, n);
}

START_TEST(cli_export_builtin)
{
    char cat[4096];
    snprintf(cat, sizeof cat, "%s", tpath("cat.db"));
    write_kohya("sd15.safetensors", sd15_layers, N_SD15, 0);
    cli_ok(cat, "import", tpath("sd15.safetensors"), "--name", "k", NULL);
    cli_result r = cli_run(cat, "export", "k", tpath("peft"), "--format", "peft", NULL);
    run_ok(&r);
    ck_assert_msg(strstr(r.err, "sd15") != NULL, "the table used is not said: %s", r.err);
    cli_result_free(&r);
    same_delta(tpath("sd15.safetensors"), tpath("peft"), sd15_layers, N_SD15);
    cli_ok(cat, "import", tpath("peft"), "--name", "p", NULL);
    diff_all_one(cat, "k", "p", N_SD15);
    diff_all_one(cat, "p", "k", N_SD15);
    /* --arch sd15 writes the same file */
    cli_ok(cat, "export", "k", tpath("peft2"), "--format", "peft", "--arch", "sd15", NULL);
    ck_assert(cli_same_file_in(tpath("peft"), tpath("peft2"), "adapter_model.safetensors"));
    /* an edited kohya adapter (ranks cut, alphas rewritten: 8/3 * 1 for the downsampler) exports with its
     * new scales, exactly (a kohya file would round that alpha to F32) */
    cli_ok(cat, "prune", "k", "--rank", "1", "--as", "k1", NULL);
    cli_ok(cat, "export", "k1", tpath("k1-peft"), "--format", "peft", NULL);
    cli_ok(cat, "import", tpath("k1-peft"), "--name", "p1", NULL);
    diff_all_one(cat, "k1", "p1", N_SD15);
}
END_TEST

/* Export k with --base-names FILE; the tensors must equal those of the built-in table's export. */
static void export_with_names(const char *cat, const char *names, const char *dir, const char *ref_dir)
{
    cli_ok(cat, "export", "k", tpath(dir), "--format", "peft", "--base-names", tpath(names), NULL);
    same_delta(tpath("sd15.safetensors"), tpath(dir), sd15_layers, N_SD15);
    char a[4096], b[4096];
    snprintf(a, sizeof a, "%s/adapter_model.safetensors", tpath(dir));
    snprintf(b, sizeof b, "%s/adapter_model.safetensors", tpath(ref_dir));
    ck_assert_msg(cli_same_file(a, b), "--base-names %s gives another file than the built-in table", names);
}

START_TEST(cli_base_names_kinds)
{
    char cat[4096];
    snprintf(cat, sizeof cat, "%s", tpath("cat.db"));
    write_kohya("sd15.safetensors", sd15_layers, N_SD15, 0);
    cli_ok(cat, "import", tpath("sd15.safetensors"), "--name", "k", NULL);
    cli_ok(cat, "export", "k", tpath("ref"), "--format", "peft", NULL);
    /* a text list with components */
    char list[4096] = "# module names\n";
    for (size_t i = 0; i < N_SD15; i++) {
        strcat(list, sd15_layers[i].path);
        strcat(list, "\n");
    }
    write_text("names.txt", list);
    export_with_names(cat, "names.txt", "from-list", "ref");
    /* a base safetensors holding bare UNet and CLIP tensor names (weights and biases), as diffusers'
     * unet/ and text_encoder/ checkpoints name them */
    const char *tensors[2 * N_SD15];
    char store[2 * N_SD15][200];
    for (size_t i = 0; i < N_SD15; i++) {
        const char *p = strchr(sd15_layers[i].path, '.') + 1;
        snprintf(store[2 * i], sizeof store[0], "%s.weight", p);
        snprintf(store[2 * i + 1], sizeof store[0], "%s.bias", p);
        tensors[2 * i] = store[2 * i];
        tensors[2 * i + 1] = store[2 * i + 1];
    }
    write_names_st("base.safetensors", tensors, 2 * N_SD15);
    export_with_names(cat, "base.safetensors", "from-st", "ref");
    /* a sharded index */
    char idx[8192] = "{\"metadata\": {\"total_size\": 1}, \"weight_map\": {";
    for (size_t i = 0; i < N_SD15; i++) {
        char one[300];
        snprintf(one, sizeof one, "%s\"%s.weight\": \"model-0000%zu-of-00007.safetensors\"", i ? ", " : "",
                 sd15_layers[i].path, i + 1);
        strcat(idx, one);
    }
    strcat(idx, "}}");
    write_text("model.safetensors.index.json", idx);
    export_with_names(cat, "model.safetensors.index.json", "from-index", "ref");
}
END_TEST

/* The command fails with exit `code`, one line naming `needle`, and leaves the catalog and `dir` as they
 * were. */
static void export_fails(const char *cat, const char *dir, int code, const char *needle, const char *a1,
                         const char *a2)
{
    char *before = cli_names_hashes(cat);
    cli_result r = cli_run(cat, "export", "k", tpath(dir), "--format", "peft", a1, a2, NULL);
    ck_assert_msg(r.code == code, "exit %d (want %d): %s", r.code, code, r.err);
    ck_assert_msg(strstr(r.err, needle) != NULL, "'%s' not in: %s", needle, r.err);
    if (code == 1)
        ck_assert_msg(cli_lines(r.err) == 1, "not one line: %s", r.err);
    struct stat sb;
    ck_assert_msg(stat(tpath(dir), &sb) != 0, "%s was written", dir);
    cli_assert_unchanged(cat, before);
    cli_result_free(&r);
}

START_TEST(cli_unmappable)
{
    char cat[4096];
    snprintf(cat, sizeof cat, "%s", tpath("cat.db"));
    kspec bad[N_SD15 + 1];
    memcpy(bad, sd15_layers, sizeof sd15_layers);
    bad[N_SD15] = (kspec){"lora_unet_down_blocks_3_attentions_0_proj_in", "", LSC_DT_F32, LSC_DT_F32, 2, 4, 4, 0, 0, 2};
    write_kohya("bad.safetensors", bad, N_SD15 + 1, 0);
    cli_ok(cat, "import", tpath("bad.safetensors"), "--name", "k", NULL);
    /* no table fits; the named table does not have the module; a list that lacks it */
    export_fails(cat, "o1", 1, "lora_unet_down_blocks_3_attentions_0_proj_in", NULL, NULL);
    export_fails(cat, "o2", 1, "lora_unet_down_blocks_3_attentions_0_proj_in", "--arch", "sd15");
    write_text("short.txt", "unet.down_blocks.0.attentions.0.proj_in\n");
    export_fails(cat, "o3", 1, "lora_unet_down_blocks_1_attentions_1_transformer_blocks_0_attn2_to_out_0",
                 "--base-names", tpath("short.txt"));
    /* two modules flatten to one kohya name */
    write_text("clash.txt", "unet.down_blocks.0.attentions.0.proj_in\nunet.down_blocks.0.attentions_0.proj_in\n");
    export_fails(cat, "o4", 1, "'down_blocks.0.attentions_0.proj_in'", "--base-names", tpath("clash.txt"));
    export_fails(cat, "o5", 1, "missing.txt", "--base-names", tpath("missing.txt"));
    /* usage: both sources; names for an export that needs none */
    export_fails(cat, "o6", 1, "no module of the base model flattens", "--arch", "sdxl");
    cli_result r = cli_run(cat, "export", "k", tpath("o7"), "--format", "peft", "--arch", "sd15", "--base-names",
                tpath("short.txt"), NULL);
    ck_assert_int_eq(r.code, 2);
    cli_result_free(&r);
    r = cli_run(cat, "export", "k", tpath("o8.safetensors"), "--format", "kohya", "--arch", "sd15", NULL);
    ck_assert_int_eq(r.code, 2);
    ck_assert_ptr_nonnull(strstr(r.err, "--base-names and --arch apply to a kohya adapter exported as peft"));
    cli_result_free(&r);
}
END_TEST

/* A PEFT folder `dir` (tpath) with layers at the given module paths, r 2, [4, 4], alpha 2. */
static void write_peft(const char *dir, const char *const *paths, size_t n)
{
    char names[16][300];
    lsc_st_out outs[16];
    int64_t shape[2] = {2, 4}, shape_b[2] = {4, 2};
    size_t nt = 0;
    for (size_t i = 0; i < n; i++)
        for (int k = 0; k < 2; k++) {
            snprintf(names[nt], sizeof names[0], "%s.lora_%c.weight", paths[i], k ? 'B' : 'A');
            outs[nt] = (lsc_st_out){.name = names[nt], .dtype = LSC_DT_F32, .ndim = 2, .shape = k ? shape_b : shape};
            nt++;
        }
    ck_assert_int_eq(mkdir(tpath(dir), 0755), 0);
    char file[600];
    snprintf(file, sizeof file, "%s/adapter_model.safetensors", tpath(dir));
    lsc_st_writer *w = NULL;
    lsc_error e;
    ck_assert_msg(lsc_st_writer_begin(file, outs, nt, NULL, NULL, 0, &w, &e) == LSC_OK, "%s", e.msg);
    for (size_t i = 0; i < nt; i++) {
        float v[8];
        for (size_t k = 0; k < 8; k++)
            v[k] = (float)fval((int)i, k);
        ck_assert_int_eq(lsc_st_writer_put(w, v, sizeof v, &e), LSC_OK);
    }
    ck_assert_msg(lsc_st_writer_finish(w, &e) == LSC_OK, "%s", e.msg);
    snprintf(file, sizeof file, "%s/adapter_config.json", tpath(dir));
    const char *cfg = "{\"peft_type\": \"LORA\", \"r\": 2, \"lora_alpha\": 2}";
    ck_assert_int_eq(cli_write(file, cfg, strlen(cfg)), 0);
}

/* The layer of `diff --json` output paired with a: its key_b ("" when paired by the same name), or NULL
 * when a has no partner. */
static char *paired_with(const char *cat, const char *a, const char *b, const char *opt, const char *val)
{
    cli_result r = cli_run(cat, "diff", a, b, "--json", opt, val, NULL);
    run_ok(&r);
    json_error_t je;
    json_t *j = json_loads(r.out, 0, &je);
    ck_assert_msg(j != NULL, "not JSON: %s", r.out);
    json_t *l = json_array_get(json_object_get(j, "layers"), 0);
    char *kb = l ? strdup(json_string_value(json_object_get(l, "key_b"))) : NULL;
    json_decref(j);
    cli_result_free(&r);
    return kb;
}

START_TEST(cli_diff_names)
{
    char cat[4096];
    snprintf(cat, sizeof cat, "%s", tpath("cat.db"));
    /* two PEFT modules flatten to the kohya name lora_unet_a_b_c: the flat key pairs with neither; the
     * base model's names say which one it is */
    static const char *const paths[] = {"unet.a.b_c", "unet.a_b.c"};
    write_peft("p", paths, 2);
    static const kspec one[] = {{"lora_unet_a_b_c", "", LSC_DT_F32, LSC_DT_F32, 2, 4, 4, 0, 0, 2}};
    write_kohya("k.safetensors", one, 1, 0);
    const char *imports[][2] = {{"p", "p"}, {"k.safetensors", "k"}};
    for (int i = 0; i < 2; i++) {
        cli_ok(cat, "import", tpath(imports[i][0]), "--name", imports[i][1], NULL);
    }
    ck_assert_ptr_null(paired_with(cat, "k", "p", NULL, NULL));
    write_text("one.txt", "unet.a_b.c\n");
    char *kb = paired_with(cat, "k", "p", "--base-names", tpath("one.txt"));
    ck_assert_str_eq(kb, "unet.a_b.c");
    free(kb);
    write_text("other.txt", "a.b_c.weight\n"); /* a bare UNet checkpoint's tensor */
    kb = paired_with(cat, "k", "p", "--base-names", tpath("other.txt"));
    ck_assert_str_eq(kb, "unet.a.b_c");
    free(kb);
    /* both in the names: still ambiguous, paired with neither */
    write_text("both.txt", "unet.a_b.c\nunet.a.b_c\n");
    ck_assert_ptr_null(paired_with(cat, "k", "p", "--base-names", tpath("both.txt")));
    cli_result r = cli_run(cat, "diff", "k", "p", "--base-names", tpath("nothere.txt"), NULL);
    ck_assert_int_eq(r.code, 1);
    ck_assert_ptr_nonnull(strstr(r.err, "nothere.txt"));
    cli_result_free(&r);
    r = cli_run(cat, "diff", "k", "p", "--base-names", tpath("one.txt"), "--arch", "sd15", NULL);
    ck_assert_int_eq(r.code, 2);
    cli_result_free(&r);
}
END_TEST

/* Run the command (a1..a6, NULL-padded): it must exit 0 and say `needle` on stderr. */
static void cli_ok_says(const char *cat, const char *a1, const char *a2, const char *a3, const char *a4,
                        const char *a5, const char *a6, const char *needle)
{
    cli_result r = cli_run(cat, a1, a2, a3, a4, a5, a6, NULL);
    run_ok(&r);
    ck_assert_msg(strstr(r.err, needle) != NULL, "'%s' not in: %s", needle, r.err);
    cli_result_free(&r);
}

/* The generated samples: the kohya DyLoRA one (SD 1.5 module names) exports to PEFT with the sd15 table;
 * a llama PEFT adapter exported to kohya comes back to PEFT through the llama table with its own keys. */
START_TEST(cli_samples)
{
    char *tmp = NULL, samples[4096], p[4600], cat[4600], q[4600];
    ck_assert_int_eq(cli_setup_samples(&tmp, samples, sizeof samples), 0);
    snprintf(cat, sizeof cat, "%s/cat.db", tmp);
    snprintf(p, sizeof p, "%s/sd-tiny-dylora.safetensors", samples);
    cli_ok(cat, "import", p, NULL);
    snprintf(q, sizeof q, "%s/sd-peft", tmp);
    cli_ok_says(cat, "export", "sd-tiny-dylora", q, "--format", "peft", NULL, "built-in sd15");
    cli_ok(cat, "import", q, "--name", "sd-peft", NULL);
    diff_all_one(cat, "sd-tiny-dylora", "sd-peft", 9);

    snprintf(p, sizeof p, "%s/llama-tiny-f32", samples);
    cli_ok(cat, "import", p, "--name", "l", NULL);
    snprintf(q, sizeof q, "%s/l.safetensors", tmp);
    cli_ok(cat, "export", "l", q, "--format", "kohya", NULL);
    cli_ok(cat, "import", q, "--name", "lk", NULL);
    snprintf(q, sizeof q, "%s/lp", tmp);
    cli_ok_says(cat, "export", "lk", q, "--format", "peft", NULL, "built-in llama");
    cli_ok(cat, "import", q, "--name", "lp", NULL);
    diff_pairs_all(cat, "l", "lp", 28, 0); /* the same stored keys as the original */
    diff_all_one(cat, "lk", "lp", 28);
    cli_rmtree(tmp);
    free(tmp);
}
END_TEST

/* base and export name one module alike: for a Llama base (a .safetensors file), lsc_modkey_base_tensor_in
 * (which tensor of the opened base a layer adapts: `base`, `show --base`, `bake`) finds, for the PEFT path,
 * the kohya name and the llama.cpp name of every module, exactly the tensor lsc_modkey_base_tensor names
 * (what export writes) with the base's own module names; a llama.cpp q/k layer, whose rows llama.cpp
 * permutes, maps to no tensor of a safetensors base, and a module the base lacks to none. */
START_TEST(base_tensor_in_one_identity)
{
    static const char *const mods[] = {"self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj",
                                       "mlp.gate_proj", "mlp.up_proj", "mlp.down_proj"};
    char hdr[16384];
    size_t o = (size_t)snprintf(hdr, sizeof hdr, "{\"model.embed_tokens.weight\":{\"dtype\":\"F32\",\"shape\":[2,2],"
                                                 "\"data_offsets\":[0,16]}");
    size_t off = 16;
    for (int b = 0; b < 2; b++)
        for (size_t m = 0; m < sizeof mods / sizeof *mods; m++, off += 16)
            o += (size_t)snprintf(hdr + o, sizeof hdr - o, ",\"model.layers.%d.%s.weight\":{\"dtype\":\"F32\",\"shape\":[2,2],"
                                  "\"data_offsets\":[%zu,%zu]}", b, mods[m], off, off + 16);
    snprintf(hdr + o, sizeof hdr - o, "}");
    unsigned char data[16 * 15] = {0};
    ck_assert_int_eq(cli_write_st(tpath("base.safetensors"), hdr, data, off), 0);
    lsc_base *base = NULL;
    lsc_basenames *bn = NULL;
    lsc_error e = {0};
    ck_assert_msg(lsc_base_open(tpath("base.safetensors"), &base, &e) == LSC_OK, "%s", e.msg);
    ck_assert_msg(lsc_basenames_load(tpath("base.safetensors"), &bn, &e) == LSC_OK, "%s", e.msg);
    for (int b = 0; b < 2; b++)
        for (size_t m = 0; m < sizeof mods / sizeof *mods; m++) {
            char path[256], want[300], names[3][512], in[512], ex[512];
            snprintf(path, sizeof path, "model.layers.%d.%s", b, mods[m]);
            snprintf(want, sizeof want, "%s.weight", path);
            snprintf(names[0], sizeof names[0], "base_model.model.%s", path);
            ck_assert_int_eq(lsc_kohya_map_name(names[0], NULL, 0, names[1], sizeof names[1]), 0);
            ck_assert_int_eq(lsc_gguf_map_name(names[0], names[2], sizeof names[2]), 0);
            int qk = m < 2;
            for (int k = 0; k < 3; k++) {
                ck_assert_msg(lsc_modkey_base_tensor(names[k], bn, ex, sizeof ex, &e) == LSC_OK, "%s: %s", names[k], e.msg);
                ck_assert_str_eq(ex, want);
                int rc = lsc_modkey_base_tensor_in(base, names[k], in, sizeof in);
                if (k == 2 && qk) {
                    ck_assert_msg(rc != 0, "%s mapped to %s on a safetensors base", names[k], in);
                    continue;
                }
                ck_assert_msg(rc == 0, "%s: no tensor", names[k]);
                ck_assert_str_eq(in, ex);
            }
        }
    char in[512];
    ck_assert_int_ne(lsc_modkey_base_tensor_in(base, "base_model.model.model.layers.7.self_attn.q_proj", in, sizeof in), 0);
    ck_assert_int_ne(lsc_modkey_base_tensor_in(base, "lora_te_model_layers_7_self_attn_q_proj", in, sizeof in), 0);
    lsc_basenames_free(bn);
    lsc_base_close(base);
}
END_TEST

static Suite *basenames_suite(void)
{
    Suite *s = suite_create("basenames");
    TCase *tc = tcase_create("core");
    tcase_add_checked_fixture(tc, tmp_setup, tmp_teardown);
    tcase_set_timeout(tc, 240);
    tcase_add_test(tc, sd15_names);
    tcase_add_test(tc, sdxl_names);
    tcase_add_test(tc, llama_names);
    tcase_add_test(tc, kohya_module_counts);
    tcase_add_test(tc, collisions);
    tcase_add_test(tc, load_kinds);
    tcase_add_test(tc, identity_across_formats);
    tcase_add_test(tc, to_peft_store);
    tcase_add_test(tc, pick_from_metadata);
    tcase_add_test(tc, to_peft_sdxl);
    tcase_add_test(tc, cli_export_builtin);
    tcase_add_test(tc, cli_base_names_kinds);
    tcase_add_test(tc, cli_unmappable);
    tcase_add_test(tc, cli_diff_names);
    tcase_add_test(tc, cli_samples);
    tcase_add_test(tc, base_tensor_in_one_identity);
    suite_add_tcase(s, tc);
    return s;
}


int main(void)
{
    SRunner *sr = srunner_create(basenames_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
