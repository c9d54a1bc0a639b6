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
        for f in os.listdir(os.path.join(C, d)):
            if not f.startswith('regress-'):
                os.remove(os.path.join(C, d, f))
    pairs = []
    for name in sorted(os.listdir(samples)):
        folder = os.path.join(samples, name)
        if name == 'tasks':
            folder = os.path.join(folder, sorted(os.listdir(folder))[0])
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


main()
