#!/usr/bin/python3
"""mkcorpus-diffusers.py: (re)write the seeds of the `diffusers` fuzz target (developer tool; tests never
run it). Usage: /usr/bin/python3 tests/fuzz/mkcorpus-diffusers.py

Seeds are tiny safetensors files (dimensions <= 4) in every spelling the diffusers and cloneofsimo
readers take: attention processors, LoRACompatible `.lora.down`, `lora_linear_layer`, lora_A/lora_B with
`lora_adapter_metadata` (patterns, rsLoRA, unprefixed), network alphas in F16/F32/BF16/I64, a conv pair,
cloneofsimo parts with `:rank` metadata and a token embedding; plus one-rule-broken files (`bad-*`).
Regression inputs (regress-*) are kept. Needs python3 only (struct, json).
"""
import json, os, struct

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, 'corpus', 'diffusers')
SIZE = {'F32': 4, 'F16': 2, 'BF16': 2, 'I64': 8, 'F64': 8}


def values(dt, n, k):
    """n deterministic small values as raw bytes of dtype dt (k varies them)."""
    vals = [((i * 7 + k * 3) % 11 - 5) / 8.0 for i in range(n)]
    if dt == 'F32':
        return struct.pack('<%df' % n, *vals)
    if dt == 'F64':
        return struct.pack('<%dd' % n, *vals)
    if dt == 'F16':
        return struct.pack('<%de' % n, *vals)
    if dt == 'BF16':
        return b''.join(struct.pack('<f', v)[2:] for v in vals)
    if dt == 'I64':
        return struct.pack('<%dq' % n, *[int(v * 8) for v in vals])
    raise ValueError(dt)


def st(tensors, meta=None):
    """tensors: list of (name, dtype, shape[, raw]); data in list order."""
    h, data = {}, b''
    if meta is not None:
        h['__metadata__'] = meta
    for k, t in enumerate(tensors):
        name, dt, shape = t[0], t[1], t[2]
        n = 1
        for d in shape:
            n *= d
        raw = t[3] if len(t) > 3 else values(dt, n, k)
        h[name] = {'dtype': dt, 'shape': list(shape), 'data_offsets': [len(data), len(data) + len(raw)]}
        data += raw
    hb = json.dumps(h, separators=(',', ':')).encode()
    hb += b' ' * (-len(hb) % 8)
    return struct.pack('<Q', len(hb)) + hb + data


def pair(down, up, r=2, i=4, o=3, dt='F32', conv=False):
    if conv:
        return [(down, dt, [r, i, 3, 3]), (up, dt, [o, r, 1, 1])]
    return [(down, dt, [r, i]), (up, dt, [o, r])]


def scalar(name, dt, v):
    return (name, dt, [], values(dt, 1, 0) if v is None else
            (struct.pack('<f', v) if dt == 'F32' else struct.pack('<e', v) if dt == 'F16' else
             struct.pack('<f', v)[2:] if dt == 'BF16' else struct.pack('<q', int(v))))


def meta_json(d):
    return json.dumps(d, indent=2, sort_keys=True)


P = 'down_blocks.0.attentions.0.transformer_blocks.0.attn1.processor.'
seeds = {
    'ok-attnprocs': st(pair(P + 'to_q_lora.down.weight', P + 'to_q_lora.up.weight') +
                       pair(P + 'to_out_lora.down.weight', P + 'to_out_lora.up.weight', dt='F16'), {'format': 'pt'}),
    'ok-te-old': st(pair('text_encoder.text_model.encoder.layers.0.self_attn.to_k_lora.down.weight',
                         'text_encoder.text_model.encoder.layers.0.self_attn.to_k_lora.up.weight')),
    'ok-loracompat-alphas': st(
        pair('unet.mid_block.proj_in.lora.down.weight', 'unet.mid_block.proj_in.lora.up.weight') +
        [scalar('unet.mid_block.proj_in.alpha', 'F16', 1.0)] +
        pair('unet.mid_block.resnets.0.conv1.lora.down.weight', 'unet.mid_block.resnets.0.conv1.lora.up.weight',
             conv=True) + [scalar('unet.mid_block.resnets.0.conv1.alpha', 'BF16', 4.0)] +
        pair('text_encoder.a.q_proj.lora_linear_layer.down.weight', 'text_encoder.a.q_proj.lora_linear_layer.up.weight',
             dt='BF16') + [scalar('text_encoder.a.q_proj.alpha', 'I64', 0)] +
        [('extra.weight', 'F32', [3])]),
    'ok-lora-alpha-on-prefix': st(pair('unet.x.lora.down.weight', 'unet.x.lora.up.weight') +
                                  [scalar('unet.x.lora.alpha', 'F32', 3.0)]),
    'ok-peft-meta': st(pair('unet.a.to_q.lora_A.weight', 'unet.a.to_q.lora_B.weight') +
                       pair('unet.a.to_out.0.lora_A.weight', 'unet.a.to_out.0.lora_B.weight', r=3) +
                       pair('text_encoder.b.q_proj.lora_A.weight', 'text_encoder.b.q_proj.lora_B.weight', r=1),
                       {'format': 'pt', 'lora_adapter_metadata': meta_json({
                           'unet.r': 2, 'unet.lora_alpha': 4, 'unet.rank_pattern': {'to_out.0': 3},
                           'unet.alpha_pattern': {'to_out\\.\\d': 1.5}, 'unet.use_rslora': False,
                           'text_encoder.r': 1, 'text_encoder.lora_alpha': 2, 'text_encoder.use_rslora': True})}),
    'ok-peft-meta-unprefixed': st(pair('a.to_q.lora_A.weight', 'a.to_q.lora_B.weight'),
                                  {'lora_adapter_metadata': meta_json({'r': 2, 'lora_alpha': 8})}),
    'ok-transformer-no-meta': st(pair('transformer.blocks.0.attn.to_q.lora_A.weight',
                                      'transformer.blocks.0.attn.to_q.lora_B.weight', dt='BF16') +
                                 [scalar('transformer.blocks.0.attn.to_q.alpha', 'F32', 8.0)]),
    'ok-clone': st(pair('unet:0:down', 'unet:0:up') + pair('unet:1:down', 'unet:1:up', r=1) +
                   pair('text_encoder:0:down', 'text_encoder:0:up', dt='F16') + [('<s1>', 'F32', [4])],
                   {'unet:0:rank': '2', 'unet:1:rank': '1', 'text_encoder:0:rank': '2', '<s1>': '<embed>',
                    'unet': '["CrossAttention", "Attention", "GEGLU"]', 'text_encoder': '["CLIPAttention"]'}),
    'ok-clone-conv': st(pair('unet:10:down', 'unet:10:up', conv=True) + pair('unet:2:down', 'unet:2:up')),
    'bad-lone-down': st([('unet.a.lora.down.weight', 'F32', [2, 4])]),
    'bad-lone-clone-up': st([('unet:0:up', 'F32', [3, 2])]),
    'bad-rank-mismatch': st([('unet.a.lora.down.weight', 'F32', [2, 4]), ('unet.a.lora.up.weight', 'F32', [3, 3])]),
    'bad-clone-rank-meta': st(pair('unet:0:down', 'unet:0:up'), {'unet:0:rank': '5'}),
    'bad-meta-json': st(pair('unet.a.lora_A.weight', 'unet.a.lora_B.weight'), {'lora_adapter_metadata': '{"unet.r": 2'}),
    'bad-meta-r': st(pair('unet.a.lora_A.weight', 'unet.a.lora_B.weight'),
                     {'lora_adapter_metadata': meta_json({'unet.r': 4, 'unet.lora_alpha': 4})}),
    'bad-alpha-and-meta': st(pair('unet.a.lora_A.weight', 'unet.a.lora_B.weight') + [scalar('unet.a.alpha', 'F32', 2.0)],
                             {'lora_adapter_metadata': meta_json({'unet.r': 2})}),
    'bad-alpha-vector': st(pair('unet.a.lora.down.weight', 'unet.a.lora.up.weight') + [('unet.a.alpha', 'F32', [2])]),
    'bad-clone-part-list': st(pair('unet:0:down', 'unet:0:up'), {'unet': 'CrossAttention'}),
    'bad-dora': st(pair('unet.a.lora_A.weight', 'unet.a.lora_B.weight') + [('unet.a.lora_magnitude_vector', 'F32', [3])]),
}

os.makedirs(OUT, exist_ok=True)
for f in os.listdir(OUT):
    if not f.startswith('regress-'):
        os.remove(os.path.join(OUT, f))
for name, b in sorted(seeds.items()):
    with open(os.path.join(OUT, name), 'wb') as fp:
        fp.write(b)
print('%d seeds in %s' % (len(seeds), OUT))
