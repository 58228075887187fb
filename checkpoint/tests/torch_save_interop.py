"""torch.save files for checkpoint_torch_interop_tests, with what they hold
described independently of shardsim.

    torch_save_interop.py write DIR

For each case writes DIR/<case>.pt (torch.save), DIR/<case>.raw (every
tensor's contiguous little-endian bytes, one after another) and
DIR/<case>.json (the saved tree: containers, key types, scalars, and for
each tensor its dtype, shape, strides, storage offset, byte range in the
.raw file and which storage it views). Also writes files a reader must refuse:
forbidden.pt (a class outside the allow-list two levels down),
whole_module.pt (torch.save of a module) and legacy.pt (the pre-zip format).
Exits 77 when torch is missing.
"""
import collections
import fractions
import json
import os
import sys

try:
    import torch
except ImportError:
    print("SKIPPED: torch is not importable by", sys.executable)
    sys.exit(77)


def describe(value, raw, storages):
    """The JSON node for `value`; tensor bytes are appended to `raw`."""
    if isinstance(value, torch.Tensor):
        t = value.detach()
        contiguous = t.contiguous()
        if contiguous.dtype == torch.bfloat16:
            contiguous = contiguous.view(torch.int16)
        data = contiguous.numpy().tobytes()
        node = {
            "type": "tensor",
            "dtype": str(t.dtype).replace("torch.", ""),
            "shape": list(t.shape),
            "stride": list(t.stride()),
            "storage_offset": t.storage_offset(),
            "offset": len(raw),
            "nbytes": len(data),
            "storage": storages.setdefault(t.storage().data_ptr(), len(storages)),
        }
        raw.extend(data)
        return node
    if value is None:
        return {"type": "none"}
    if isinstance(value, bool):
        return {"type": "bool", "value": value}
    if isinstance(value, int):
        return {"type": "int", "value": value}
    if isinstance(value, float):
        return {"type": "float", "value": value}
    if isinstance(value, str):
        return {"type": "str", "value": value}
    if isinstance(value, (list, tuple)):
        return {"type": "list" if isinstance(value, list) else "tuple",
                "items": [describe(v, raw, storages) for v in value]}
    if isinstance(value, dict):
        metadata = getattr(value, "_metadata", None)
        return {
            "type": "dict",
            "entries": [{"key": str(k), "key_type": "int" if isinstance(k, int) else "str",
                         "value": describe(v, raw, storages)} for k, v in value.items()],
            "metadata": None if metadata is None else describe(metadata, raw, storages),
        }
    raise TypeError(type(value))


def module():
    return torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.BatchNorm1d(3))


def cases():
    torch.manual_seed(16)
    out = {}
    out["plain"] = {"weight": torch.randn(3, 4), "count": 5, "lr": 0.125, "name": "plain",
                    "flag": True, "nothing": None, "negative": -(2 ** 40),
                    "parameter": torch.nn.Parameter(torch.randn(2))}
    m = module()
    m.train()
    m(torch.randn(5, 4))  # running stats and num_batches_tracked move
    out["module"] = m.state_dict()
    emb = torch.randn(5, 3)
    out["tied"] = collections.OrderedDict(
        [("embed.weight", emb), ("lm_head.weight", emb), ("row", emb[2]), ("col", emb[:, 1]),
         ("other", torch.randn(2))])
    out["noncontig"] = {"transposed": torch.randn(4, 5).t(), "strided": torch.randn(6, 4)[::2, 1:],
                        "expanded": torch.randn(3, 1).expand(3, 4)}
    dtypes = [torch.float32, torch.float64, torch.float16, torch.bfloat16, torch.int64, torch.int32,
              torch.int16, torch.int8, torch.uint8, torch.bool, torch.complex64, torch.complex128]
    d = {}
    for dt in dtypes:
        name = str(dt).replace("torch.", "")
        if dt.is_floating_point or dt.is_complex:
            d[name] = torch.randn(2, 3).to(dt)
        elif dt == torch.bool:
            d[name] = torch.randn(2, 3) > 0
        else:
            d[name] = torch.randint(-100 if dt != torch.uint8 else 0, 100, (2, 3)).to(dt)
    d["big_int64"] = torch.tensor([2 ** 62, -(2 ** 62) - 5])
    d["scalar"] = torch.tensor(2.5)
    d["empty"] = torch.zeros(0, 3)
    out["dtypes"] = d
    net = module()
    optim = torch.optim.Adam(net.parameters(), lr=0.01)
    net(torch.randn(5, 4)).sum().backward()
    optim.step()
    out["nested"] = {"model": net.state_dict(), "optim": optim.state_dict(), "epoch": 7,
                     "history": [1, (2.5, "x"), [None, True, {"deep": (torch.arange(3),)}]]}
    return out


def main():
    if len(sys.argv) != 3 or sys.argv[1] != "write":
        print(__doc__)
        return 2
    directory = sys.argv[2]
    os.makedirs(directory, exist_ok=True)
    for name, value in cases().items():
        raw = bytearray()
        tree = describe(value, raw, {})
        torch.save(value, os.path.join(directory, name + ".pt"))
        with open(os.path.join(directory, name + ".raw"), "wb") as f:
            f.write(raw)
        with open(os.path.join(directory, name + ".json"), "w") as f:
            json.dump(tree, f)
    # A class outside the allow-list, two levels down.
    torch.save({"a": {"b": fractions.Fraction(1, 3)}}, os.path.join(directory, "forbidden.pt"))
    # A whole module (its class is not allowed) and the legacy, pre-zip format.
    torch.save(module(), os.path.join(directory, "whole_module.pt"))
    torch.save({"a": torch.ones(2)}, os.path.join(directory, "legacy.pt"),
               _use_new_zipfile_serialization=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
