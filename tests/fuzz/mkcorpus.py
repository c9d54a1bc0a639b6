#!/usr/bin/python3
"""mkcorpus.py: (re)write the seed corpora in tests/fuzz/corpus/ (developer tool; tests never run it).

Usage: /usr/bin/python3 tests/fuzz/mkcorpus.py SAMPLES_DIR   (SAMPLES_DIR from `build/samples/gen-samples DIR`)
Seeds: each bundled sample cut down to its first two LoRA layers (and first extra tensor) with every
dimension sliced to at most 4, so key spellings, dtypes, metadata and configs are real but files are
a few hundred bytes; plus hand-made edge cases and malformed files, one rule broken each.
Regression inputs (crashes found by .ci/fuzz.sh) live beside the seeds as regress-*; this script keeps
them. Needs python3 + numpy only.
"""
import json, os, struct, sys
import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
C = os.path.join(HERE, 'corpus')
DT = {'F64': ('<f8', 8), 'F32': ('<f4', 4), 'F16': ('<f2', 2), 'BF16': (None, 2), 'I64': ('<i8', 8),
      'I32': ('<i4', 4)}


def st_bytes(tensors, meta=None, pad=True):
    """tensors: list of (name, dtype, shape, raw bytes). Returns a safetensors file."""
    h, data = {}, b''
    if meta is not None:
        h['__metadata__'] = meta
    for name, dt, shape, raw in tensors:
        h[name] = {'dtype': dt, 'shape': list(shape), 'data_offsets': [len(data), len(data) + len(raw)]}
        data += raw
    return raw_st(json.dumps(h, separators=(',', ':')).encode(), data, pad)


def raw_st(header, data, pad=True):
    if pad:
        header += b' ' * (-len(header) % 8)
    return struct.pack('<Q', len(header)) + header + data


def read_st(path):
    b = open(path, 'rb').read()
    n = struct.unpack('<Q', b[:8])[0]
    h = json.loads(b[8:8 + n])
    meta = h.pop('__metadata__', None)
    base = 8 + n
    out = []
    for k, v in sorted(h.items(), key=lambda kv: kv[1]['data_offsets'][0]):
        b0, b1 = v['data_offsets']
        out.append((k, v['dtype'], v['shape'], b[base + b0:base + b1]))
    return out, meta


def cut(tensors, dims=4):
    """First two layers (by key prefix before '.lora_') and the first extra tensor, sliced to `dims`."""
    layers, extra, keep = [], None, []
    for k, dt, shape, raw in tensors:
        i = k.find('.lora_')
        if i < 0:
            if extra is None:
                extra = k
                keep.append((k, dt, shape, raw))
            continue
        p = k[:i]
        if p not in layers:
            layers.append(p)
        if layers.index(p) < 2:
            keep.append((k, dt, shape, raw))
    out = []
    for k, dt, shape, raw in keep:
        es = DT[dt][1]
        a = np.frombuffer(raw, dtype=np.dtype('u%d' % es)).reshape(shape) if shape else np.frombuffer(raw, dtype=np.dtype('u%d' % es))
        sl = tuple(slice(0, min(d, dims)) for d in shape)
        a = np.ascontiguousarray(a[sl]) if shape else a
        out.append((k, dt, list(a.shape) if shape else [], a.tobytes()))
    return out


def put(target, name, data):
    d = os.path.join(C, target)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    open(os.path.join(d, name), 'wb').write(data)


def f32(*v):
    return np.array(v, dtype='<f4').tobytes()


def main():
    samples = sys.argv[1]
    for d in os.listdir(C) if os.path.isdir(C) else []:
        if d in ('export', 'diffusers'):
            continue  # mkcorpus-export.py and mkcorpus-diffusers.py write those
        for f in os.listdir(os.path.join(C, d)):
            if not f.startswith('regress-'):
                os.remove(os.path.join(C, d, f))
    pairs = []
    for name in sorted(os.listdir(samples)):
        folder = os.path.join(samples, name)
        if name == 'tasks':
            folder = os.path.join(folder, sorted(os.listdir(folder))[0])
        if not os.path.exists(os.path.join(folder, 'adapter_model.safetensors')):
            continue  # GGUF, kohya and dense samples: hand-made seeds below cover their formats
        t, meta = read_st(os.path.join(folder, 'adapter_model.safetensors'))
        st = st_bytes(cut(t), meta)
        cfg = open(os.path.join(folder, 'adapter_config.json'), 'rb').read()
        put('safetensors', 'sample-' + name, st)
        put('peft-config', 'sample-' + name, cfg)
        pairs.append((name, cfg, st))

    # safetensors: edge cases that are valid, then one broken rule each
    s = 'safetensors'
    put(s, 'ok-empty', raw_st(b'{}', b''))
    put(s, 'ok-meta-only', st_bytes([], {'k': 'v'}))
    put(s, 'ok-scalar-zero-size', st_bytes([('a', 'F32', [], f32(1)), ('z', 'F16', [0, 3], b''),
                                            ('i', 'I64', [1], struct.pack('<q', 7))]))
    put(s, 'ok-unpadded', st_bytes([('a', 'BF16', [2], b'\x80\x3f\x00\x40')], pad=False))
    put(s, 'ok-f8-bool', st_bytes([('a', 'F8_E4M3', [2], b'\x01\x02'), ('b', 'BOOL', [1], b'\x01')]))
    good = st_bytes([('x.lora_A.weight', 'F32', [1, 2], f32(1, 2)), ('x.lora_B.weight', 'F32', [2, 1], f32(3, 4))])
    put(s, 'bad-truncated', good[:-3])
    put(s, 'bad-trailing', good + b'\0')
    put(s, 'bad-huge-n', struct.pack('<Q', 2**63) + b'{}')
    put(s, 'bad-n-past-end', struct.pack('<Q', 64) + b'{}      ')
    put(s, 'bad-short', b'\x02\x00\x00')
    put(s, 'bad-gap', raw_st(b'{"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}', b'\0' * 8))
    put(s, 'bad-overlap', raw_st(b'{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},'
                                 b'"b":{"dtype":"F32","shape":[1],"data_offsets":[2,6]}}', b'\0' * 6))
    put(s, 'bad-size-mismatch', raw_st(b'{"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}', b'\0' * 8))
    put(s, 'bad-dup-name', raw_st(b'{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},'
                                  b'"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}', b'\0' * 8))
    put(s, 'bad-dtype', raw_st(b'{"a":{"dtype":"F33","shape":[1],"data_offsets":[0,4]}}', b'\0' * 4))
    put(s, 'bad-shape-overflow', raw_st(b'{"a":{"dtype":"F64","shape":[4294967296,4294967296,16],'
                                        b'"data_offsets":[0,0]}}', b''))
    put(s, 'bad-negative-dim', raw_st(b'{"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,0]}}', b''))
    put(s, 'bad-meta-number', raw_st(b'{"__metadata__":{"k":1}}', b''))
    put(s, 'bad-not-object', raw_st(b'[1,2,3]', b''))
    put(s, 'bad-json', raw_st(b'{"a":{"dtype":"F32",', b''))
    put(s, 'bad-offsets-float', raw_st(b'{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4.0]}}', b'\0' * 4))
    put(s, 'bad-nine-dims', raw_st(b'{"a":{"dtype":"U8","shape":[1,1,1,1,1,1,1,1,1],"data_offsets":[0,1]}}', b'\0'))
    put(s, 'bad-utf8-name', raw_st(b'{"\xff\xfe":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}', b'\0'))

    p = 'peft-config'
    base = {'peft_type': 'LORA', 'r': 2, 'lora_alpha': 4, 'target_modules': ['q_proj', 'down_proj']}
    def cfg(**kw):
        c = dict(base)
        c.update(kw)
        return json.dumps(c)
    put(p, 'ok-plain', cfg())
    put(p, 'ok-patterns', cfg(rank_pattern={'q_proj': 2, 'layers\\.1\\.mlp\\.down_proj': 3},
                              alpha_pattern={'(?:down)_proj': 9.5, '\\d\\.self_attn\\.q_proj': 1}))
    put(p, 'ok-rslora-fanin', cfg(use_rslora=True, fan_in_fan_out=True, lora_alpha=3.25))
    put(p, 'ok-adalora', cfg(peft_type='ADALORA', init_r=6, target_r=2))
    put(p, 'ok-unknown-keys', cfg(extra={'nested': [1, None, 'x']}, modules_to_save=['score']))
    put(p, 'ok-r-disagrees', cfg(r=64))
    put(p, 'ok-dora', cfg(use_dora=True))
    put(p, 'bad-json', '{"r": 2, ')
    put(p, 'bad-nan', '{"r": 2, "lora_alpha": NaN}')
    put(p, 'bad-r-zero', cfg(r=0))
    put(p, 'bad-alpha-huge', '{"r": 2, "lora_alpha": 1e999}')
    put(p, 'bad-alpha-string', cfg(lora_alpha='16'))
    put(p, 'bad-pattern-regex', cfg(rank_pattern={'(?P<x>q)_proj': 2}))
    put(p, 'bad-pattern-value', cfg(rank_pattern={'q_proj': -1}))
    put(p, 'bad-not-object', '[]')
    put(p, 'empty', '')

    sc = 'script'
    put(sc, 'ok-basic', '# a script\nset NAME llama\nimport /tmp/x --name "${NAME}-2"\nshow $NAME --json\n'
                        'expect rank ${NAME} \'*q_proj\' <= 8\nrun - --var N=V\n')
    put(sc, 'ok-quoting', "a 'single $x' \"dq \\\" \\\\ \\$ ${LOCKED}\" back\\ slash \\\n  continued # c\n"
                          "set LOCKED mine\nb \"$LOCKED\" '' \"\" x'y'\"z\"\n")
    put(sc, 'ok-globs', "prune 'ckpt-*' --energy 0.9 --name {}-p\nexpect energy {}-p >= 0.9\n")
    put(sc, 'ok-crlf', 'ls\r\nshow a\r\n')
    put(sc, 'bad-unterminated-single', "show 'abc\n")
    put(sc, 'bad-unterminated-double', 'show "abc\n')
    put(sc, 'bad-undefined', 'show ${NOPE}\n')
    put(sc, 'bad-brace', 'show ${NAME\n')
    put(sc, 'bad-set', 'set 1x y\nset only\n')
    put(sc, 'bad-var-name', 'show ${a-b}\n')

    im = 'import'
    def imp(config, st):
        if config is None:
            return struct.pack('<H', 0xffff) + st
        return struct.pack('<H', len(config)) + config + st
    for name, c, st in pairs:
        put(im, 'sample-' + name, imp(c, st))
    put(im, 'ok-no-config', imp(None, good))
    put(im, 'ok-tiny', imp(cfg(r=1, lora_alpha=2).encode(), good))
    put(im, 'bad-config', imp(b'{"r":', good))
    put(im, 'bad-st', imp(cfg().encode(), good[:-1]))
    put(im, 'bad-shapes', imp(cfg().encode(), st_bytes([('x.lora_A.weight', 'F32', [1, 2], f32(1, 2)),
                                                         ('x.lora_B.weight', 'F32', [2, 2], f32(1, 2, 3, 4))])))
    put(im, 'bad-int-factors', imp(cfg().encode(), st_bytes([('x.lora_A.weight', 'I32', [1, 1], b'\0' * 4),
                                                              ('x.lora_B.weight', 'I32', [1, 1], b'\0' * 4)])))
    put(im, 'ok-nan', imp(cfg().encode(), st_bytes([('x.lora_A.weight', 'F32', [1, 2], f32(float('nan'), 2)),
                                                     ('x.lora_B.weight', 'F32', [2, 1], f32(3, float('inf')))])))

    gguf_seeds()


def gguf_kv(key, typ, val):
    k = key.encode()
    out = struct.pack('<Q', len(k)) + k + struct.pack('<I', typ)
    if typ == 8:
        v = val.encode()
        return out + struct.pack('<Q', len(v)) + v
    fmt = {4: '<I', 5: '<i', 6: '<f', 7: '<?', 10: '<Q'}[typ]
    return out + struct.pack(fmt, val)


def gguf(tensors, kvs=None, version=3, align=32, alpha=8.0, extra_kv=b''):
    """tensors: list of (name, ne list, ggml type, raw bytes). A GGUF LoRA file."""
    if kvs is None:
        kvs = [('general.architecture', 8, 'llama'), ('general.type', 8, 'adapter'), ('adapter.type', 8, 'lora'),
               ('adapter.lora.alpha', 6, alpha)]
    body = b''.join(gguf_kv(*kv) for kv in kvs) + extra_kv
    infos, data = b'', b''
    for name, ne, typ, raw in tensors:
        n = name.encode()
        data += b'\0' * (-len(data) % align)
        infos += struct.pack('<Q', len(n)) + n + struct.pack('<I', len(ne)) + b''.join(struct.pack('<Q', d) for d in ne)
        infos += struct.pack('<IQ', typ, len(data))
        data += raw
    head = b'GGUF' + struct.pack('<IQQ', version, len(tensors), len(kvs) + (1 if extra_kv else 0)) + body + infos
    head += b'\0' * (-len(head) % align)
    return head + data


def gguf_seeds():
    g = 'gguf'
    a = ('blk.0.attn_q.weight.lora_a', [4, 2], 0, f32(*range(8)))
    b = ('blk.0.attn_q.weight.lora_b', [2, 6], 0, f32(*range(12)))
    a16 = ('blk.1.ffn_up.weight.lora_a', [4, 2], 1, np.arange(8, dtype='<f2').tobytes())
    b16 = ('blk.1.ffn_up.weight.lora_b', [2, 3], 1, np.arange(6, dtype='<f2').tobytes())
    abf = ('blk.2.attn_v.weight.lora_a', [2, 1], 30, b'\x80\x3f\x00\x40')
    bbf = ('blk.2.attn_v.weight.lora_b', [1, 2], 30, b'\x80\x3f\x00\x40')
    q8 = struct.pack('<e', 0.5) + bytes(range(32))
    aq = ('blk.3.attn_k.weight.lora_a', [32, 1], 8, q8)
    bq = ('blk.3.attn_k.weight.lora_b', [1, 32], 0, f32(*range(32)))
    put(g, 'ok-f32', gguf([a, b]))
    put(g, 'ok-mixed', gguf([a, b, a16, b16, abf, bbf]))
    put(g, 'ok-q8', gguf([aq, bq]))
    put(g, 'ok-v2-align64', gguf([a, b], version=2, align=64,
                                 extra_kv=gguf_kv('general.alignment', 4, 64)))
    put(g, 'ok-no-alpha', gguf([a, b], kvs=[('general.architecture', 8, 'llama'), ('general.type', 8, 'adapter'),
                                            ('adapter.type', 8, 'lora')]))
    put(g, 'ok-extra-norm', gguf([a, b, ('blk.0.attn_norm.weight', [6], 0, f32(*range(6)))]))
    good = gguf([a, b])
    put(g, 'bad-magic', b'GGUX' + good[4:])
    put(g, 'bad-v1', gguf([a, b], version=1))
    put(g, 'bad-truncated', good[:-5])
    put(g, 'bad-huge-count', good[:8] + struct.pack('<Q', 2**62) + good[16:])
    put(g, 'bad-huge-kv-count', good[:16] + struct.pack('<Q', 2**62) + good[24:])
    put(g, 'bad-align-3', gguf([a, b], extra_kv=gguf_kv('general.alignment', 4, 3)))
    put(g, 'bad-name-long', gguf([('x' * 70 + '.lora_a', [4, 2], 0, f32(*range(8))), b]))
    put(g, 'bad-type', gguf([(a[0], a[1], 99, a[3]), b]))
    put(g, 'bad-rank-mismatch', gguf([a, ('blk.0.attn_q.weight.lora_b', [3, 4], 0, f32(*range(12)))]))
    put(g, 'bad-five-dims', gguf([(a[0], [4, 2, 1, 1, 1], 0, a[3]), b]))
    put(g, 'bad-not-adapter', gguf([a, b], kvs=[('general.architecture', 8, 'llama'), ('general.type', 8, 'model')]))


main()
