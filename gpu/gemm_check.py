"""What cuBLAS gives for BERT-base's GEMMs at batch 32 x seq 128 (4096 tokens), fp16, on this card.

One forward has 12 layers of four GEMMs: QKV (768 -> 2304), attention output (768 -> 768), FFN up (768 -> 3072) and FFN down
(3072 -> 768). Timing each shape alone with CUDA events, in the two weight layouts a runtime may use (x @ W with W [K, N] as
ONNX MatMul stores it, and x @ W^T as torch.nn.Linear does), gives the GEMM floor of one forward: what the runtime's 1.95 ms
compares against. Prints one JSON object.

    python3 gpu/gemm_check.py [--tokens 4096] [--iters 200]
"""
import argparse
import json

import torch

SHAPES = {"qkv": (768, 2304), "attn_out": (768, 768), "ffn_up": (768, 3072), "ffn_down": (3072, 768)}


def timed(fn, iters):
    for _ in range(20):
        fn()
    torch.cuda.synchronize()
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    times = []
    for _ in range(iters):
        start.record()
        fn()
        end.record()
        end.synchronize()
        times.append(start.elapsed_time(end))
    times.sort()
    return times[len(times) // 2]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--tokens", type=int, default=4096)
    parser.add_argument("--iters", type=int, default=200)
    args = parser.parse_args()
    torch.manual_seed(0)
    m = args.tokens
    rows = []
    totals = {"kn": 0.0, "nk": 0.0, "nk_bias": 0.0}
    for name, (k, n) in SHAPES.items():
        x = torch.randn(m, k, device="cuda", dtype=torch.float16)
        w_kn = torch.randn(k, n, device="cuda", dtype=torch.float16) * 0.02
        w_nk = w_kn.t().contiguous()
        bias = torch.randn(n, device="cuda", dtype=torch.float16)
        flop = 2.0 * m * n * k
        kn = timed(lambda: torch.matmul(x, w_kn), args.iters)
        nk = timed(lambda: torch.nn.functional.linear(x, w_nk), args.iters)
        nk_bias = timed(lambda: torch.nn.functional.linear(x, w_nk, bias), args.iters)
        for key, ms in (("kn", kn), ("nk", nk), ("nk_bias", nk_bias)):
            totals[key] += 12 * ms
        rows.append({"gemm": name, "m": m, "k": k, "n": n, "x_at_w_kn_ms": round(kn, 4), "x_at_wT_nk_ms": round(nk, 4),
                     "linear_with_bias_ms": round(nk_bias, 4), "tflops_kn": round(flop / kn / 1e9, 1),
                     "tflops_nk": round(flop / nk / 1e9, 1)})
    print(json.dumps({"mode": "gemm_check", "device": torch.cuda.get_device_name(), "torch": torch.__version__,
                      "rows": rows, "forward_gemm_ms": {k: round(v, 4) for k, v in totals.items()}}))


if __name__ == "__main__":
    main()
