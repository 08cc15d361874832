# Hugging Face transformers baseline for issue 8, on the same card and in the same device call as Sluice:
# a LlamaForCausalLM of the Llama-1B shape (random weights, fp16), greedy generate() at batch 1 and a static batch,
# plus the card's measured memory bandwidth (device-to-device copy) and the weight bytes one decode step reads.
#   python3 hf_baseline.py --out baseline.json [--prompt 64] [--new 128] [--batch 64]
import argparse, json, time
import torch
from transformers import LlamaConfig, LlamaForCausalLM

ap = argparse.ArgumentParser()
ap.add_argument("--out", required=True)
ap.add_argument("--prompt", type=int, default=64)
ap.add_argument("--new", type=int, default=128)
ap.add_argument("--batch", type=int, default=64)
ap.add_argument("--layers", type=int, default=16); ap.add_argument("--hidden", type=int, default=2048)
ap.add_argument("--heads", type=int, default=32); ap.add_argument("--kv-heads", type=int, default=8)
ap.add_argument("--inter", type=int, default=5632); ap.add_argument("--vocab", type=int, default=32000)
a = ap.parse_args()
dev = "cuda"
result = {"card": torch.cuda.get_device_name(0), "torch": torch.__version__}

# :: Bandwidth: a 4 GiB device-to-device copy reads and writes every byte once.
n = 2 * 1024**3 // 2  # elements of fp16 in 2 GiB per buffer
src = torch.empty(n, dtype=torch.float16, device=dev); dst = torch.empty_like(src)
for _ in range(3): dst.copy_(src)
torch.cuda.synchronize(); times = []
for _ in range(10):
    t = time.perf_counter(); dst.copy_(src); torch.cuda.synchronize(); times.append(time.perf_counter() - t)
best = min(times)
result["bandwidth_GBps"] = 2 * src.numel() * 2 / best / 1e9
del src, dst; torch.cuda.empty_cache()

import transformers
result["transformers"] = transformers.__version__
cfg = LlamaConfig(hidden_size=a.hidden, intermediate_size=a.inter, num_hidden_layers=a.layers, num_attention_heads=a.heads,
                  num_key_value_heads=a.kv_heads, vocab_size=a.vocab, max_position_embeddings=2048, tie_word_embeddings=True)
torch.manual_seed(0)
model = LlamaForCausalLM(cfg).half().to(dev).eval()
weight_bytes = sum(p.numel() * p.element_size() for p in model.parameters())  # tied embedding counted once
result["weight_bytes"] = weight_bytes
result["params"] = sum(p.numel() for p in model.parameters())
result["bandwidth_limit_tokens_per_s_batch1"] = result["bandwidth_GBps"] * 1e9 / weight_bytes

def run(batch, reps):
    g = torch.Generator().manual_seed(batch)
    ids = torch.randint(0, a.vocab, (batch, a.prompt), generator=g).to(dev)
    mask = torch.ones_like(ids)
    kw = dict(max_new_tokens=a.new, min_new_tokens=a.new, do_sample=False, pad_token_id=0, attention_mask=mask)
    with torch.no_grad():
        model.generate(ids, **{**kw, "max_new_tokens": 8, "min_new_tokens": 8})  # warm-up
        torch.cuda.synchronize(); times = []
        for _ in range(reps):
            t = time.perf_counter(); out = model.generate(ids, **kw); torch.cuda.synchronize(); times.append(time.perf_counter() - t)
    new = out.shape[1] - a.prompt
    assert new == a.new, new
    best = sorted(times)[len(times) // 2]
    return {"batch": batch, "prompt": a.prompt, "new_tokens": new, "seconds_median": best, "output_tokens_per_s": batch * new / best}

result["generate_batch1"] = run(1, 3)
result[f"generate_batch{a.batch}"] = run(a.batch, 3)
json.dump(result, open(a.out, "w"), indent=1)
print(json.dumps(result, indent=1))
