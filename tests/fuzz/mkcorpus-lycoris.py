#!/usr/bin/python3
"""mkcorpus-lycoris.py: (re)write the seed corpus of fuzz-lycoris in tests/fuzz/corpus/lycoris/ (developer
tool; tests never run it). Usage: /usr/bin/python3 tests/fuzz/mkcorpus-lycoris.py

Seeds are tiny kohya-style files with LyCORIS's published key layouts: LoHa (plain and Tucker), LoKr
(full, decomposed, both decomposed, Tucker W2), LoCon with lora_mid, DoRA on a pair and on a LoHa, a
file mixing them with LyCORIS metadata, F16 and BF16 factors (`ok-*`); and one rule broken each (`bad-*`:
a missing partner, a shape or rank mismatch, a Tucker core that does not fit, a dora_scale of the wrong
size, rank metadata that disagrees, (IA)3 / GLoRA / OFT / full tensors). Regression inputs (regress-*)
are kept. Needs python3 only.
"""
import json, os, struct

HERE = os.path.dirname(os.path.abspath(__file__))
D = os.path.join(HERE, 'corpus', 'lycoris')


def vals(n, seed, dt):
    out = b''
    for k in range(n):
        v = ((seed * 31 + k * 17) % 13 - 6) / 8.0
        if dt == 'F32':
            out += struct.pack('<f', v)
        elif dt == 'F16':
            out += struct.pack('<e', v)
        else:  # BF16: the top half of the f32
            out += struct.pack('<f', v)[2:]
    return out


def st(tensors, meta=None, dt='F32'):
    """tensors: (key, shape) in file order; alpha keys get the scalar 2."""
    h, data = {}, b''
    if meta:
        h['__metadata__'] = meta
    for i, (key, shape) in enumerate(tensors):
        n = 1
        for s in shape:
            n *= s
        raw = vals(n, i, dt) if not key.endswith('.alpha') else vals(1, 5, dt)
        if key.endswith('.alpha'):
            raw = struct.pack('<f', 2.0) if dt == 'F32' else struct.pack('<e', 2.0) if dt == 'F16' else struct.pack('<f', 2.0)[2:]
        h[key] = {'dtype': dt, 'shape': list(shape), 'data_offsets': [len(data), len(data) + len(raw)]}
        data += raw
    hb = json.dumps(h, separators=(',', ':')).encode()
    hb += b' ' * (-len(hb) % 8)
    return struct.pack('<Q', len(hb)) + hb + data


M = 'lora_unet_x_to_q'
LYC = {'ss_network_module': 'lycoris.kohya', 'ss_network_dim': '2', 'ss_network_args': '{"conv_dim": "2"}'}
seeds = {
    'ok-loha': [(M + '.alpha', []), (M + '.hada_w1_a', [4, 2]), (M + '.hada_w1_b', [2, 3]),
                (M + '.hada_w2_a', [4, 2]), (M + '.hada_w2_b', [2, 3])],
    'ok-loha-tucker': [(M + '.hada_t1', [2, 2, 3, 1]), (M + '.hada_t2', [2, 2, 3, 1]), (M + '.hada_w1_a', [2, 4]),
                       (M + '.hada_w1_b', [2, 3]), (M + '.hada_w2_a', [2, 4]), (M + '.hada_w2_b', [2, 3])],
    'ok-lokr-full': [(M + '.alpha', []), (M + '.lokr_w1', [2, 2]), (M + '.lokr_w2', [3, 2])],
    'ok-lokr-lowrank': [(M + '.alpha', []), (M + '.lokr_w1', [2, 2]), (M + '.lokr_w2_a', [3, 2]),
                        (M + '.lokr_w2_b', [2, 4])],
    'ok-lokr-both': [(M + '.lokr_w1_a', [3, 1]), (M + '.lokr_w1_b', [1, 2]), (M + '.lokr_w2_a', [2, 1]),
                     (M + '.lokr_w2_b', [1, 2])],
    'ok-lokr-tucker': [(M + '.lokr_t2', [2, 2, 1, 3]), (M + '.lokr_w1', [2, 2]), (M + '.lokr_w2_a', [2, 3]),
                       (M + '.lokr_w2_b', [2, 2])],
    'ok-locon-tucker': [(M + '.alpha', []), (M + '.lora_down.weight', [2, 3, 1, 1]),
                        (M + '.lora_mid.weight', [2, 2, 3, 3]), (M + '.lora_up.weight', [4, 2, 1, 1])],
    'ok-dora-pair': [(M + '.alpha', []), (M + '.dora_scale', [1, 3]), (M + '.lora_down.weight', [2, 3]),
                     (M + '.lora_up.weight', [4, 2])],
    'ok-dora-loha': [(M + '.dora_scale', [4, 1]), (M + '.hada_w1_a', [4, 1]), (M + '.hada_w1_b', [1, 3]),
                     (M + '.hada_w2_a', [4, 1]), (M + '.hada_w2_b', [1, 3])],
    'bad-loha-missing': [(M + '.hada_w1_a', [4, 2]), (M + '.hada_w1_b', [2, 3]), (M + '.hada_w2_a', [4, 2])],
    'bad-loha-shape': [(M + '.hada_w1_a', [4, 2]), (M + '.hada_w1_b', [2, 3]), (M + '.hada_w2_a', [3, 2]),
                       (M + '.hada_w2_b', [2, 3])],
    'bad-lokr-partner': [(M + '.lokr_w1', [2, 2]), (M + '.lokr_w2_a', [3, 2])],
    'bad-lokr-tucker': [(M + '.lokr_t2', [2, 2, 1, 3]), (M + '.lokr_w1', [2, 2]), (M + '.lokr_w2_a', [3, 3]),
                        (M + '.lokr_w2_b', [2, 2])],
    'bad-dora-size': [(M + '.dora_scale', [1, 5]), (M + '.lokr_w1', [2, 2]), (M + '.lokr_w2', [2, 2])],
    'bad-mid': [(M + '.lora_down.weight', [2, 3, 1, 1]), (M + '.lora_mid.weight', [3, 2, 3, 3]),
                (M + '.lora_up.weight', [4, 2, 1, 1])],
    'bad-ia3': [(M + '.on_input', []), (M + '.weight', [4])],
    'bad-glora': [(M + '.a1.weight', [2, 3]), (M + '.a2.weight', [4, 2]), (M + '.b1.weight', [2, 3]),
                  (M + '.b2.weight', [4, 2])],
    'bad-oft': [(M + '.oft_blocks', [2, 2, 2])],
    'bad-diff': [(M + '.diff', [4, 3])],
}
os.makedirs(D, exist_ok=True)
for name, t in seeds.items():
    open(os.path.join(D, name), 'wb').write(st(t))
mixed = seeds['ok-loha'] + [('lora_te_b' + k[len(M):], s) for k, s in seeds['ok-lokr-lowrank']] + \
    [('lora_te_c' + k[len(M):], s) for k, s in seeds['ok-locon-tucker']] + \
    [('lora_te_d' + k[len(M):], s) for k, s in seeds['ok-dora-pair']]
open(os.path.join(D, 'ok-mixed-meta'), 'wb').write(st(mixed, LYC))
open(os.path.join(D, 'ok-loha-f16'), 'wb').write(st(seeds['ok-loha'], None, 'F16'))
open(os.path.join(D, 'ok-lokr-bf16'), 'wb').write(st(seeds['ok-lokr-both'], None, 'BF16'))
bad_meta = dict(LYC, ss_network_dim='8', ss_network_args='{}')
open(os.path.join(D, 'bad-rank-meta'), 'wb').write(st(seeds['ok-loha'], bad_meta))
