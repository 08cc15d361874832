# baseline.json (hf_baseline.py) + bench.json (Sluice.LlmBench) -> the issue 8 GPU table with its targets.
import json, sys
b = json.load(open(sys.argv[1])); r = {x["Concurrency"]: x for x in json.load(open(sys.argv[2]))}
limit = b["bandwidth_limit_tokens_per_s_batch1"]
c1 = r.get(1); c64 = r.get(64)
hf1 = b["generate_batch1"]["output_tokens_per_s"]; hf64 = b["generate_batch64"]["output_tokens_per_s"]
print(f"card {b['card']}, torch {b['torch']}, transformers {b['transformers']}; {b['params']/1e6:.0f}M params, {b['weight_bytes']/1e9:.3f} GB fp16 weights; measured bandwidth {b['bandwidth_GBps']:.0f} GB/s -> batch-1 limit {limit:.0f} tokens/s\n")
print("| path | output tokens/s | ITL p50 | TTFT p50 |\n|---|---|---|---|")
print(f"| HF generate() batch 1 | {hf1:.0f} | {1000/hf1:.2f} ms | |")
print(f"| HF generate() static batch 64 | {hf64:.0f} | | |")
if c1: print(f"| Sluice concurrency 1 | {c1['TokensPerSecond']:.0f} | {c1['itl_p50_ms']:.2f} ms | {c1['ttft_p50_ms']:.2f} ms |")
if c64: print(f"| Sluice concurrency 64 | {c64['TokensPerSecond']:.0f} | {c64['itl_p50_ms']:.2f} ms | {c64['ttft_p50_ms']:.2f} ms |")
print("\n| target | measured | verdict |\n|---|---|---|")
if c1:
    decode = 1000 / c1["itl_p50_ms"]
    print(f"| batch-1 decode >= 50% of bandwidth limit ({limit/2:.0f} tok/s) | {decode:.0f} tok/s = {decode/limit*100:.0f}% | {'met' if decode >= limit/2 else 'missed'} |")
if c64:
    t = c64["TokensPerSecond"]
    print(f"| concurrency 64 >= 5x HF batch 1 ({5*hf1:.0f}) | {t:.0f} = {t/hf1:.1f}x | {'met' if t >= 5*hf1 else 'missed'} |")
    print(f"| concurrency 64 >= HF static batch 64 ({hf64:.0f}) | {t:.0f} = {t/hf64:.2f}x | {'met' if t >= hf64 else 'missed'} |")
