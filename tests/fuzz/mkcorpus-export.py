#!/usr/bin/python3
"""mkcorpus-export.py: (re)write the seed corpus of fuzz-export in tests/fuzz/corpus/export/ (developer
tool; tests never run it). Needs python3 only.

Usage: /usr/bin/python3 tests/fuzz/mkcorpus-export.py
Input layout (see fuzz-export.c): byte 0 the input kind (0 GGUF file, 1 safetensors file, 2 PEFT folder as
fuzz-import's input, 3 GGUF builder bytes), byte 1 the export path choice, then the input.
Seeds: GGUF files laid out by llama.cpp's rules with alignment 32 (default and explicit), 128 and 4096
and tensor sizes that are not multiples of it, a version-2 file, files whose last padding is absent or
cut short, one Q8_0 file, and one file each with a trailing byte or non-zero padding (refused); a kohya
and a PEFT safetensors file; two PEFT folders taken from corpus/import; builder inputs for every
alignment. Regression inputs (regress-*) are kept.
"""
import os, struct

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, 'corpus', 'export')


def f32(*v):
    return struct.pack('<%df' % len(v), *v)


def f16(*v):
    return struct.pack('<%de' % len(v), *v)


def s(x):
    b = x.encode()
    return struct.pack('<Q', len(b)) + b


def kv(key, typ, val):
    out = s(key) + struct.pack('<I', typ)
    if typ == 8:
        return out + s(val)
    return out + struct.pack({4: '<I', 6: '<f', 7: '<?', 10: '<Q'}[typ], val)


def gguf(tensors, align=None, version=3, tail=None, trailing=b'', alpha=8.0):
    """tensors: (name, ne, ggml type, raw). tail None: the last tensor padded like the others; else that
    many zero bytes after it."""
    kvs = [kv('general.architecture', 8, 'llama'), kv('general.type', 8, 'adapter'), kv('adapter.type', 8, 'lora'),
           kv('adapter.lora.alpha', 6, alpha)]
    if align is not None:
        kvs.append(kv('general.alignment', 4, align))
    a = align or 32
    head = b'GGUF' + struct.pack('<IQQ', version, len(tensors), len(kvs)) + b''.join(kvs)
    off = 0
    for name, ne, typ, raw in tensors:
        head += s(name) + struct.pack('<I', len(ne)) + b''.join(struct.pack('<Q', d) for d in ne)
        head += struct.pack('<IQ', typ, off)
        off += len(raw) + (-len(raw) % a)
    data = head + b'\0' * (-len(head) % a)
    for i, (name, ne, typ, raw) in enumerate(tensors):
        data += raw
        pad = -len(raw) % a
        if i == len(tensors) - 1 and tail is not None:
            pad = tail
        data += b'\0' * pad
    return data + trailing


def st(tensors, meta=None):
    import json
    h, data = {}, b''
    if meta:
        h['__metadata__'] = meta
    for name, dt, shape, raw in tensors:
        h[name] = {'dtype': dt, 'shape': shape, 'data_offsets': [len(data), len(data) + len(raw)]}
        data += raw
    hb = json.dumps(h, separators=(',', ':')).encode()
    hb += b' ' * (-len(hb) % 8)
    return struct.pack('<Q', len(hb)) + hb + data


def put(name, kind, path, body):
    with open(os.path.join(OUT, name), 'wb') as fp:
        fp.write(bytes([kind, path]) + body)


def main():
    os.makedirs(OUT, exist_ok=True)
    for f in os.listdir(OUT):
        if not f.startswith('regress-'):
            os.remove(os.path.join(OUT, f))
    # unaligned sizes: A 3x5 F32 = 60 bytes, B 7x3 F32 = 84, an F16 pair of 6 and 10 bytes
    a = ('blk.0.attn_v.weight.lora_a', [5, 3], 0, f32(*[i / 8 - 1 for i in range(15)]))
    b = ('blk.0.attn_v.weight.lora_b', [3, 7], 0, f32(*[i / 4 - 2 for i in range(21)]))
    a16 = ('blk.1.ffn_up.weight.lora_a', [3, 1], 1, f16(0.5, -1, 2))
    b16 = ('blk.1.ffn_up.weight.lora_b', [1, 5], 1, f16(1, 2, 3, 4, 5))
    two = [a, b, a16, b16]
    put('gguf-align32-default', 0, 0, gguf(two))
    put('gguf-align32', 0, 8, gguf(two, align=32))
    put('gguf-align128', 0, 1, gguf(two, align=128))
    put('gguf-align4096', 0, 2, gguf([a, b], align=4096))
    put('gguf-align1', 0, 3, gguf(two, align=1))
    put('gguf-v2', 0, 4, gguf(two, version=2, align=64))
    put('gguf-no-last-pad', 0, 5, gguf(two, tail=0))
    put('gguf-short-last-pad', 0, 6, gguf(two, align=128, tail=7))
    q8 = struct.pack('<e', 0.5) + bytes(range(32))
    put('gguf-q8', 0, 0, gguf([('blk.3.attn_k.weight.lora_a', [32, 1], 8, q8),
                               ('blk.3.attn_k.weight.lora_b', [1, 2], 0, f32(1, 2))]))
    put('gguf-bad-trailing', 0, 0, gguf(two, trailing=b'x'))
    bad = bytearray(gguf(two, align=128))
    bad[-1] = 1
    put('gguf-bad-nonzero-pad', 0, 0, bytes(bad))
    ko = st([('lora_unet_a.alpha', 'F16', [], f16(4)), ('lora_unet_a.lora_down.weight', 'F32', [2, 3], f32(1, 2, 3, 4, 5, 6)),
             ('lora_unet_a.lora_up.weight', 'BF16', [3, 2], b'\x80\x3f' * 6)], {'ss_network_dim': '2'})
    put('st-kohya', 1, 9, ko)
    pe = st([('base_model.model.layers.0.q_proj.lora_A.weight', 'F32', [1, 3], f32(1, 2, 3)),
             ('base_model.model.layers.0.q_proj.lora_B.weight', 'F16', [2, 1], f16(1, 2))])
    put('st-peft-file', 1, 10, pe)
    imp = os.path.join(HERE, 'corpus', 'import')
    for name in ('sample-llama-tiny-f16', 'sample-llama-tiny-dora'):
        with open(os.path.join(imp, name), 'rb') as fp:
            put('peft-' + name[len('sample-'):], 2, 16, fp.read())
    # builder inputs: byte 2 picks the alignment (13 choices), the rest shapes, types and data
    for k in range(13):
        body = bytes([k, k & 1, 1, k * 5, k, k & 1]) + bytes((k * 29 + i * 7) % 256 for i in range(60))
        put('gen-align-%02d' % k, 3, k % 8, body)


main()
