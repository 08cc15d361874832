"""Sums an `ncu --csv --page raw --metrics gpu__time_duration.sum` log into one forward pass's GPU time by kernel family.

The log holds several identical runs of one model (warm-up and timed); the last run is found as the shortest tail of kernel
names that repeats just before itself, so launches made once at load (plans, copies) do not count.

    python3 gpu/kernels.py NCU_LOG > summary.json
"""
import csv
import json
import re
import sys
from collections import defaultdict

FAMILIES = [
    ("gemm", re.compile(r"gemm|nvjet|cutlass|xmma|cublas|splitK|sm90_", re.I)),
    ("attention", re.compile(r"attention|fmha|flash|sdpa|cudnn|softmax|mha", re.I)),
    ("layer_norm", re.compile(r"layernorm|layer_norm|LayerNorm", re.I)),
    ("gelu", re.compile(r"gelu", re.I)),
    ("copy_cast_transpose", re.compile(r"copy|cast|transpose|memcpy|concat|slice|gather|elementwise|unary|binary", re.I)),
]


def family(name):
    for label, pattern in FAMILIES:
        if pattern.search(name):
            return label
    return "other"


def main(path):
    lines = [line for line in open(path, errors="replace") if line.startswith('"')]
    reader = csv.reader(lines)
    header = next(reader)
    name_col, time_col = header.index("Kernel Name"), header.index("gpu__time_duration.sum")
    kernels = []
    for row in reader:
        if len(row) <= time_col or not row[0].isdigit():
            continue
        value = row[time_col].replace(",", "")
        try:
            kernels.append((row[name_col], float(value) / 1000.0))   # ns -> us
        except ValueError:
            continue
    names = [k[0] for k in kernels]
    period = next((p for p in range(10, len(names) // 2 + 1) if names[-p:] == names[-2 * p:-p]), len(names))
    last = kernels[-period:]
    by_family, by_name = defaultdict(float), defaultdict(lambda: [0, 0.0])
    for name, us in last:
        by_family[family(name)] += us
        entry = by_name[name]
        entry[0] += 1
        entry[1] += us
    top = sorted(by_name.items(), key=lambda kv: -kv[1][1])[:25]
    print(json.dumps({
        "mode": "kernels", "kernels_logged": len(kernels), "kernels_per_run": period,
        "run_gpu_us": round(sum(us for _, us in last), 1),
        "by_family_us": {k: round(v, 1) for k, v in sorted(by_family.items(), key=lambda kv: -kv[1])},
        "top": [{"kernel": n[:120], "launches": c, "us": round(t, 1)} for n, (c, t) in top],
    }, indent=1))


if __name__ == "__main__":
    main(sys.argv[1])
