#!/usr/bin/env python3
"""Generate the loader's test files: valid seeds and a corpus of corrupt files.

    python3 make_corrupt.py [DIR]          write DIR/corpus/*.safetensors (valid)
                                           and DIR/corrupt/*.safetensors (default:
                                           the directory of this script)
    python3 make_corrupt.py --check [DIR]  regenerate in memory and fail if the
                                           committed files differ

Every corrupt file is named STATUS-what.safetensors; mmoe_model_load must fail
on it with the status its prefix names: format -> MMOE_ERR_FORMAT, version ->
MMOE_ERR_VERSION, config -> MMOE_ERR_CONFIG, nonfinite -> MMOE_ERR_NONFINITE.
Standard library only; the layout follows docs/file-format.md.
"""
import json
import math
import os
import struct
import sys

CONFIG = """mmoe-config 1
arch {arch}
input.dense 3
experts.count 2
experts.layers 4
experts.activation relu
seed 7
tasks 2
task.0.name ctr
task.0.kind binary
task.0.weight 1
task.0.layers 2
task.0.activation relu
task.1.name value
task.1.kind regression
task.1.weight 1
task.1.layers
task.1.activation relu
"""


def tensors(arch):
    """Names and shapes of the parameters for CONFIG (docs/file-format.md)."""
    n_exp = {"mmoe": 2, "omoe": 2, "shared_bottom": 1, "single_task": 2}[arch]
    n_gate = {"mmoe": 2, "omoe": 1, "shared_bottom": 0, "single_task": 0}[arch]
    out = []
    for i in range(n_exp):
        out.append(("experts.%d.layers.0.weight" % i, [4, 3]))
        out.append(("experts.%d.layers.0.bias" % i, [4]))
    for k in range(n_gate):
        out.append(("gates.%d.weight" % k, [n_exp, 3]))
    out += [("towers.0.layers.0.weight", [2, 4]), ("towers.0.layers.0.bias", [2]),
            ("towers.0.layers.1.weight", [1, 2]), ("towers.0.layers.1.bias", [1]),
            ("towers.1.layers.0.weight", [1, 4]), ("towers.1.layers.0.bias", [1])]
    return out


def values(name, n):
    seed = sum(ord(c) for c in name)
    return [round(math.sin(seed + 0.7 * j), 4) for j in range(n)]


def numel(shape):
    n = 1
    for d in shape:
        n *= d
    return n


def build(arch="mmoe", meta=None, config=None, header_edit=None, data_edit=None,
          raw_header=None, pad=True, order=sorted):
    """Assemble a file; the hooks corrupt a part of it."""
    meta = dict(meta) if meta is not None else {
        "format": "libmmoe", "format_version": "1", "libmmoe_version": "0.1.0",
        "config": config if config is not None else CONFIG.format(arch=arch)}
    header = {"__metadata__": meta}
    data = b""
    for name, shape in order(tensors(arch)):
        vals = values(name, numel(shape))
        blob = struct.pack("<%df" % len(vals), *vals)
        header[name] = {"dtype": "F32", "shape": shape,
                        "data_offsets": [len(data), len(data) + len(blob)]}
        data += blob
    if header_edit:
        header_edit(header)
    text = raw_header if raw_header is not None else json.dumps(header, separators=(",", ":"))
    hb = text.encode("utf-8") if isinstance(text, str) else text
    if pad:
        hb += b" " * (-len(hb) % 8)
    if data_edit:
        data = data_edit(data)
    return struct.pack("<Q", len(hb)) + hb + data


def edit(fn):
    def f(h):
        fn(h)
    return f


def set_value(name, index, value):
    """Data edit: element `index` of tensor `name` (mmoe, sorted order) := value."""
    def f(data):
        off = 0
        for n, shape in sorted(tensors("mmoe")):
            if n == name:
                pos = off + 4 * index
                return data[:pos] + struct.pack("<f", value) + data[pos + 4:]
            off += 4 * numel(shape)
        raise KeyError(name)
    return f


def files():
    ok = {}
    for arch in ("mmoe", "omoe", "shared_bottom", "single_task"):
        ok["valid-%s.safetensors" % arch] = build(arch)
    ok["valid-registry-order.safetensors"] = build(order=lambda t: t)
    ok["valid-extra-metadata.safetensors"] = build(meta={
        "format": "libmmoe", "format_version": "1", "config": CONFIG.format(arch="mmoe"),
        "trained_by": "someone else"})

    good = build()
    N = struct.unpack("<Q", good[:8])[0]
    hdr = json.loads(good[8:8 + N])
    W = "experts.0.layers.0.weight"
    bad = {}

    def c(name, blob):
        bad[name + ".safetensors"] = blob

    def h(fn):
        return build(header_edit=fn)

    # --- structure -> MMOE_ERR_FORMAT
    c("format-empty", b"")
    c("format-short", b"\x10\x00\x00")
    c("format-only-length", struct.pack("<Q", 0))
    c("format-truncated-header", good[:8 + N // 2])
    c("format-header-length-huge", struct.pack("<Q", 2 ** 63) + good[8:])
    c("format-header-length-over-limit", struct.pack("<Q", 100 * 1024 * 1024 + 8) + good[8:])
    c("format-header-length-past-end", struct.pack("<Q", len(good)) + good[8:])
    c("format-not-json", build(raw_header="this is not json at all"))
    c("format-json-array", build(raw_header="[1,2,3]"))
    c("format-json-unterminated", build(raw_header='{"__metadata__":{"format":"libmmoe"'))
    c("format-json-trailing-garbage", build(raw_header=json.dumps(hdr) + "xyz"))
    c("format-header-invalid-utf8", build(raw_header=json.dumps(hdr).encode()[:-1] + b'\xff}'))
    c("format-header-nul-byte", build(raw_header=json.dumps(hdr).encode() + b"\x00"))
    c("format-no-metadata", h(lambda x: x.pop("__metadata__")))
    c("format-metadata-not-object", h(lambda x: x.__setitem__("__metadata__", ["libmmoe"])))
    c("format-metadata-value-not-string",
      h(lambda x: x["__metadata__"].__setitem__("format_version", 1)))
    c("format-not-libmmoe", h(lambda x: x["__metadata__"].__setitem__("format", "other")))
    c("format-optimizer-file", h(lambda x: x["__metadata__"].__setitem__("format",
                                                                         "libmmoe-optimizer")))
    c("format-no-format", h(lambda x: x["__metadata__"].pop("format")))
    c("format-no-format-version", h(lambda x: x["__metadata__"].pop("format_version")))
    c("format-version-not-integer",
      h(lambda x: x["__metadata__"].__setitem__("format_version", "1.0")))
    c("format-version-zero", h(lambda x: x["__metadata__"].__setitem__("format_version", "0")))
    c("format-version-negative",
      h(lambda x: x["__metadata__"].__setitem__("format_version", "-1")))
    c("format-no-config", h(lambda x: x["__metadata__"].pop("config")))
    c("format-missing-tensor", h(lambda x: x.pop("towers.1.layers.0.bias")))
    c("format-unknown-tensor", h(lambda x: x.__setitem__("experts.9.layers.0.weight",
                                                         dict(x[W]))))
    dup = json.dumps(hdr)
    dup = dup[:-1] + ', "%s": %s}' % (W, json.dumps(hdr[W]))
    c("format-duplicate-tensor", build(raw_header=dup))
    dupm = json.dumps(hdr)[:-1] + ', "__metadata__": {"format": "libmmoe"}}'
    c("format-duplicate-metadata", build(raw_header=dupm))
    c("format-dtype-f16", h(lambda x: x[W].__setitem__("dtype", "F16")))
    c("format-dtype-f64", h(lambda x: x[W].__setitem__("dtype", "F64")))
    c("format-dtype-not-string", h(lambda x: x[W].__setitem__("dtype", 32)))
    c("format-missing-dtype", h(lambda x: x[W].pop("dtype")))
    c("format-missing-shape", h(lambda x: x[W].pop("shape")))
    c("format-missing-offsets", h(lambda x: x[W].pop("data_offsets")))
    c("format-tensor-extra-key", h(lambda x: x[W].__setitem__("strides", [3, 1])))
    c("format-tensor-not-object", h(lambda x: x.__setitem__(W, [1, 2])))
    c("format-wrong-shape", h(lambda x: x[W].__setitem__("shape", [3, 4])))
    c("format-wrong-rank", h(lambda x: x[W].__setitem__("shape", [12])))
    c("format-shape-negative", h(lambda x: x[W].__setitem__("shape", [-4, -3])))
    c("format-shape-fraction", h(lambda x: x[W].__setitem__("shape", [4.5, 3])))
    c("format-shape-not-array", h(lambda x: x[W].__setitem__("shape", "4,3")))
    b0, e0 = hdr[W]["data_offsets"]
    c("format-offsets-begin-after-end", h(lambda x: x[W].__setitem__("data_offsets", [e0, b0])))
    c("format-offsets-outside-data",
      h(lambda x: x[W].__setitem__("data_offsets", [10 ** 6, 10 ** 6 + 48])))
    c("format-offsets-size-mismatch", h(lambda x: x[W].__setitem__("data_offsets", [b0, e0 - 4])))
    c("format-offsets-huge", h(lambda x: x[W].__setitem__("data_offsets", [1e300, 1e300])))
    c("format-offsets-beyond-2-53",
      h(lambda x: x[W].__setitem__("data_offsets", [2 ** 64 - 48, 2 ** 64])))
    c("format-offsets-negative", h(lambda x: x[W].__setitem__("data_offsets", [-48, 0])))
    c("format-offsets-fraction", h(lambda x: x[W].__setitem__("data_offsets", [0.5, 48.5])))
    c("format-offsets-three", h(lambda x: x[W].__setitem__("data_offsets", [b0, e0, e0])))
    c("format-offsets-one", h(lambda x: x[W].__setitem__("data_offsets", [b0])))
    c("format-offsets-strings", h(lambda x: x[W].__setitem__("data_offsets", [str(b0), str(e0)])))
    # Two tensors of the same size swapped onto one range: overlap (and a gap elsewhere).
    other = "experts.1.layers.0.weight"

    def overlap(x):
        x[other]["data_offsets"] = list(x[W]["data_offsets"])
    c("format-overlap", h(overlap))
    # Shift every range up by 4 bytes and append 4 bytes: a gap at the start.
    def gap(x):
        for k, v in x.items():
            if k != "__metadata__":
                v["data_offsets"] = [v["data_offsets"][0] + 4, v["data_offsets"][1] + 4]
    c("format-gap", build(header_edit=gap, data_edit=lambda d: b"\0\0\0\0" + d))
    c("format-trailing-data", build(data_edit=lambda d: d + b"\0\0\0\0"))
    c("format-truncated-data", good[:-4])
    c("format-truncated-mid-float", good[:-2])
    c("format-no-data", good[:8 + N])

    # --- versions -> MMOE_ERR_VERSION
    c("version-newer", h(lambda x: x["__metadata__"].__setitem__("format_version", "2")))
    c("version-much-newer", h(lambda x: x["__metadata__"].__setitem__("format_version", "1000")))
    c("version-config-newer", build(config=CONFIG.format(arch="mmoe").replace(
        "mmoe-config 1", "mmoe-config 99")))

    # --- descriptions -> MMOE_ERR_CONFIG
    base = CONFIG.format(arch="mmoe")
    c("config-unknown-key", build(config=base + "experts.dropout 0.5\n"))
    c("config-unknown-arch", build(config=base.replace("arch mmoe", "arch transformer")))
    c("config-bad-number", build(config=base.replace("input.dense 3", "input.dense three")))
    c("config-zero-input", build(config=base.replace("input.dense 3", "input.dense 0")))
    c("config-empty", build(config=""))
    c("config-not-a-config", build(config="hello world\n"))
    c("config-no-tasks", build(config="mmoe-config 1\narch mmoe\ninput.dense 3\n"))

    # --- values -> MMOE_ERR_NONFINITE
    c("nonfinite-nan-weight", build(data_edit=set_value(W, 5, float("nan"))))
    c("nonfinite-inf-bias", build(data_edit=set_value("towers.0.layers.1.bias", 0, float("inf"))))
    c("nonfinite-neg-inf-gate", build(data_edit=set_value("gates.1.weight", 5, float("-inf"))))
    return ok, bad


def main(argv):
    check = "--check" in argv
    rest = [a for a in argv if a != "--check"]
    root = rest[0] if rest else os.path.dirname(os.path.abspath(__file__))
    ok, bad = files()
    wrong = 0
    for sub, group in (("corpus", ok), ("corrupt", bad)):
        d = os.path.join(root, sub)
        if not check:
            os.makedirs(d, exist_ok=True)
        for name, blob in sorted(group.items()):
            p = os.path.join(d, name)
            if check:
                try:
                    with open(p, "rb") as f:
                        same = f.read() == blob
                except OSError:
                    same = False
                if not same:
                    print("differs from make_corrupt.py output: " + p)
                    wrong += 1
            else:
                with open(p, "wb") as f:
                    f.write(blob)
    if check:
        print("%d files checked, %d differ" % (len(ok) + len(bad), wrong))
    return 1 if wrong else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
