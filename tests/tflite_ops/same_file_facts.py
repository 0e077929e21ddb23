#!/usr/bin/env python3
"""same_file_facts.py ORIGINAL.json WRITTEN.json: the facts a TFLite round trip must keep, read from
`flatc --json` dumps of both files (independent of transfix's reader): description, metadata
(names and bytes), SignatureDefs (keys, names, and the names of the tensors they point to), and
for every tensor the written file still has (by name), its type, shape and quantization (scales,
zero points, quantized_dimension). Exit 0 when equal, 1 with the first difference."""
import json
import sys


def load(path):
    m = json.load(open(path))
    g = m["subgraphs"][0]
    tensors = g.get("tensors", [])
    buffers = m.get("buffers", [])
    meta = {md.get("name", ""): buffers[md.get("buffer", 0)].get("data", []) for md in m.get("metadata", [])}
    sigs = {}
    for s in m.get("signature_defs", []):
        name = lambda tm: (tm.get("name", ""), tensors[tm.get("tensor_index", 0)].get("name", ""))
        sigs[s.get("signature_key", "")] = (sorted(map(name, s.get("inputs", []))), sorted(map(name, s.get("outputs", []))))
    by_name = {}
    for t in tensors:
        q = t.get("quantization") or {}
        # A 1-D tensor has one axis: old files that name another (TFLite Micro's person_detect) are
        # read, and written back, along axis 0.
        per_axis = len(q.get("scale", [])) > 1 and len(t.get("shape", [])) > 1
        quant = (q.get("scale", []), [int(z) for z in q.get("zero_point", [])], q.get("quantized_dimension", 0) if per_axis else 0)
        by_name[t.get("name", "")] = (t.get("type", "FLOAT32"), t.get("shape", []), quant if quant[0] else None)
    io = ([tensors[i].get("name") for i in g.get("inputs", [])], [tensors[i].get("name") for i in g.get("outputs", [])])
    return m.get("description", ""), meta, sigs, by_name, io


a, b = load(sys.argv[1]), load(sys.argv[2])
for what, x, y in (("description", a[0], b[0]), ("metadata", a[1], b[1]), ("signature_defs", a[2], b[2]),
                   ("subgraph inputs/outputs", a[4], b[4])):
    if x != y:
        print("%s differs: %s vs %s" % (what, str(x)[:200], str(y)[:200]))
        sys.exit(1)
kept = 0
for name, facts in b[3].items():
    if name in a[3]:
        kept += 1
        if a[3][name] != facts:
            print("tensor '%s' differs: %s vs %s" % (name, str(a[3][name])[:200], str(facts)[:200]))
            sys.exit(1)
print("same description, %d metadata, %d signatures, io names; %d tensors by name with the same type/shape/quantization"
      % (len(a[1]), len(a[2]), kept))
