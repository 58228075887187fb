#!/usr/bin/python3
"""An independent safetensors writer and checker: struct + json only (no
torch, no safetensors package, no shardsim code). Driven by
python_interop_test.cpp:

  write-file PATH    a file holding FIXTURE, laid out in FIXTURE order, header unpadded
  write-index DIR    FIXTURE as two shards + model.safetensors.index.json
  check-file PATH    PATH (written by shardsim) holds FIXTURE with metadata
                     {"writer": "shardsim"} in the reference writer's layout
  check-index DIR    DIR (written by shardsim) is a sharded FIXTURE

Exit status 0 when the check holds, 1 with a message otherwise.
"""
import json
import os
import struct
import sys

# name -> (dtype, shape, values); the C++ side builds the same tensors.
FIXTURE = [
    ("f32", "F32", [2, 3], [i * 0.5 - 1 for i in range(6)]),
    ("f64", "F64", [3], [i / 3 for i in range(3)]),
    ("f16", "F16", [4], [i - 1.5 for i in range(4)]),
    ("bf16", "BF16", [2, 2], [i * 0.25 + 1 for i in range(4)]),
    ("i64", "I64", [2], [-(2 ** 40), 2 ** 40 + 3]),
    ("i32", "I32", [3], [-7, 0, 2 ** 31 - 1]),
    ("i16", "I16", [2], [-300, 300]),
    ("i8", "I8", [3], [-128, 0, 127]),
    ("u8", "U8", [2, 2], [0, 1, 254, 255]),
    ("bool", "BOOL", [3], [True, False, True]),
    ("scalar", "F32", [], [3.5]),
    ("empty", "F32", [0, 4], []),
    ("\u00fcn\u00ef.weight", "F32", [1], [2.0]),
]

FORMATS = {"F64": "d", "F32": "f", "F16": "e", "I64": "q", "I32": "i", "I16": "h",
           "I8": "b", "U8": "B", "BOOL": "?"}
SIZES = {"F64": 8, "F32": 4, "F16": 2, "BF16": 2, "I64": 8, "I32": 4, "I16": 2,
         "I8": 1, "U8": 1, "BOOL": 1}
# Position in the reference writer's Dtype enum; larger is laid out first.
ALIGNMENT_RANK = {"BOOL": 0, "U8": 1, "I8": 2, "I16": 5, "F16": 7, "BF16": 8, "I32": 9,
                  "F32": 11, "F64": 12, "I64": 13}


def fail(message):
    print("safetensors_interop.py: " + message, file=sys.stderr)
    sys.exit(1)


def encode(dtype, values):
    if dtype == "BF16":
        # bfloat16 is the upper half of float32; every fixture value is exact.
        return b"".join(struct.pack("<f", v)[2:4] for v in values)
    return struct.pack("<%d%s" % (len(values), FORMATS[dtype]), *values)


def decode(dtype, data):
    if dtype == "BF16":
        return [struct.unpack("<f", b"\0\0" + data[i:i + 2])[0] for i in range(0, len(data), 2)]
    return list(struct.unpack("<%d%s" % (len(data) // SIZES[dtype], FORMATS[dtype]), data))


def file_bytes(entries, metadata):
    header = {}
    if metadata is not None:
        header["__metadata__"] = metadata
    data = b""
    for name, dtype, shape, values in entries:
        raw = encode(dtype, values)
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [len(data), len(data) + len(raw)]}
        data += raw
    text = json.dumps(header).encode("utf-8")
    return struct.pack("<Q", len(text)) + text + data


def write(path, content):
    with open(path, "wb") as f:
        f.write(content)


def check_file(path, expected_entries, expected_metadata):
    """Parses `path` byte by byte and checks the reference layout."""
    with open(path, "rb") as f:
        content = f.read()
    if len(content) < 8:
        fail("%s: %d bytes" % (path, len(content)))
    (n,) = struct.unpack("<Q", content[:8])
    if n % 8 != 0:
        fail("%s: header length %d is not a multiple of 8" % (path, n))
    if 8 + n > len(content):
        fail("%s: header length %d past the end (%d bytes)" % (path, n, len(content)))
    text = content[8:8 + n].decode("utf-8")
    stripped = text.rstrip(" ")
    if len(text) - len(stripped) >= 8:
        fail("%s: %d padding spaces" % (path, len(text) - len(stripped)))
    if not stripped.startswith("{") or not stripped.endswith("}"):
        fail("%s: header %r is not one JSON object" % (path, text[:40]))
    pairs = json.loads(stripped, object_pairs_hook=lambda p: p)
    keys = [k for k, _ in pairs]
    header = dict(pairs)
    if len(keys) != len(header):
        fail("%s: duplicate keys in %r" % (path, keys))
    metadata = header.pop("__metadata__", None)
    if metadata is not None:
        metadata = dict(metadata)
        if keys[0] != "__metadata__":
            fail("%s: __metadata__ is not first: %r" % (path, keys))
    if metadata != expected_metadata:
        fail("%s: metadata %r, expected %r" % (path, metadata, expected_metadata))

    expected_order = sorted(expected_entries, key=lambda e: (-ALIGNMENT_RANK[e[1]], e[0]))
    tensor_keys = [k for k in keys if k != "__metadata__"]
    if tensor_keys != [e[0] for e in expected_order]:
        fail("%s: tensors %r, expected %r" % (path, tensor_keys, [e[0] for e in expected_order]))
    data = content[8 + n:]
    offset = 0
    for name, dtype, shape, values in expected_order:
        entry = dict(header[name])
        if entry["dtype"] != dtype or entry["shape"] != shape:
            fail("%s: %s is %s %r, expected %s %r" % (path, name, entry["dtype"], entry["shape"], dtype, shape))
        begin, end = entry["data_offsets"]
        if begin != offset:
            fail("%s: %s begins at %d, expected %d" % (path, name, begin, offset))
        if (8 + n + begin) % SIZES[dtype] != 0:
            fail("%s: %s is not aligned in the file" % (path, name))
        got = decode(dtype, data[begin:end])
        if got != list(values):
            fail("%s: %s holds %r, expected %r" % (path, name, got, values))
        offset = end
    if offset != len(data):
        fail("%s: the tensors cover %d of %d data bytes" % (path, offset, len(data)))


def main():
    if len(sys.argv) != 3:
        fail("usage: safetensors_interop.py write-file|write-index|check-file|check-index PATH")
    command, path = sys.argv[1], sys.argv[2]
    if command == "write-file":
        write(path, file_bytes(FIXTURE, {"writer": "python"}))
    elif command == "write-index":
        os.makedirs(path, exist_ok=True)
        halves = [FIXTURE[:6], FIXTURE[6:]]
        weight_map = {}
        total = 0
        for i, part in enumerate(halves):
            name = "model-%05d-of-%05d.safetensors" % (i + 1, len(halves))
            write(os.path.join(path, name), file_bytes(part, {"format": "pt"}))
            for entry in part:
                weight_map[entry[0]] = name
                total += len(encode(entry[1], entry[3]))
        index = {"metadata": {"total_size": total}, "weight_map": weight_map}
        write(os.path.join(path, "model.safetensors.index.json"),
              (json.dumps(index, indent=2, sort_keys=True) + "\n").encode("utf-8"))
    elif command == "check-file":
        check_file(path, FIXTURE, {"writer": "shardsim"})
    elif command == "check-index":
        with open(os.path.join(path, "model.safetensors.index.json"), "rb") as f:
            index = json.loads(f.read().decode("utf-8"))
        weight_map = index["weight_map"]
        if sorted(weight_map) != sorted(e[0] for e in FIXTURE):
            fail("%s: weight_map keys %r" % (path, sorted(weight_map)))
        total = sum(len(encode(e[1], e[3])) for e in FIXTURE)
        if index["metadata"]["total_size"] != total:
            fail("%s: total_size %r, expected %d" % (path, index["metadata"]["total_size"], total))
        shards = sorted(set(weight_map.values()))
        if len(shards) < 2:
            fail("%s: only %d shard(s)" % (path, len(shards)))
        for i, shard in enumerate(shards):
            expected_name = "model-%05d-of-%05d.safetensors" % (i + 1, len(shards))
            if shard != expected_name:
                fail("%s: shard %s, expected %s" % (path, shard, expected_name))
            entries = [e for e in FIXTURE if weight_map[e[0]] == shard]
            check_file(os.path.join(path, shard), entries, {"format": "pt"})
        if sorted(os.listdir(path)) != sorted(shards + ["model.safetensors.index.json"]):
            fail("%s: unexpected files %r" % (path, sorted(os.listdir(path))))
    else:
        fail("unknown command " + command)


if __name__ == "__main__":
    main()
