"""BERT-base (random weights, transformers.BertConfig()) for the GPU measurement.

  python3 gpu/bert_models.py export   --dir D          ONNX exports (torch.onnx.export(..., dynamo=True)):
        D/bert_fp32.onnx, D/bert_fp16.onnx (model.half() exported), D/bert_fp16_xf.onnx (the FP16 export through
        onnxscript's ONNX Runtime fusions: fused attention, SkipLayerNormalization, BiasGelu), D/bert_fp16_fused.onnx (fp32 export run through
        onnxruntime.transformers' BERT fusions, then FP16) when that package can; D/export.json says what worked.
  python3 gpu/bert_models.py baseline --out F.json     PyTorch eager baseline, fp16 and fp32, batch 1/8/32, seq 128.

Inputs: input_ids, attention_mask, token_type_ids (INT64 [batch, seq]); outputs: last_hidden_state, pooler_output.
"""
import argparse
import json
import os
import sys
import time
import traceback

import torch
import transformers

SEQ = 128
BATCHES = (1, 8, 32)


def make_model(dtype):
    torch.manual_seed(0)
    config = transformers.BertConfig()
    model = transformers.BertModel(config, add_pooling_layer=True).eval()
    return model.to(dtype)


def inputs(batch, seq, device="cpu"):
    g = torch.Generator().manual_seed(batch)
    ids = torch.randint(1000, 30000, (batch, seq), generator=g, dtype=torch.int64)
    ids[:, 0] = 101
    ids[:, -1] = 102
    mask = torch.ones(batch, seq, dtype=torch.int64)
    types = torch.zeros(batch, seq, dtype=torch.int64)
    return ids.to(device), mask.to(device), types.to(device)


class Wrapper(torch.nn.Module):
    """Plain tuple outputs, so the exported graph's outputs are named and ordered predictably."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, input_ids, attention_mask, token_type_ids):
        out = self.model(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids, return_dict=True)
        return out.last_hidden_state, out.pooler_output


def export_one(model, path, report, opset=None):
    example = inputs(2, SEQ)
    names = dict(input_names=["input_ids", "attention_mask", "token_type_ids"], output_names=["last_hidden_state", "pooler_output"])
    batch = torch.export.Dim("batch", min=1, max=1024)
    seq = torch.export.Dim("seq", min=2, max=512)
    attempts = [
        ("batch+seq dynamic", {k: {0: batch, 1: seq} for k in names["input_names"]}),
        ("batch dynamic", {k: {0: batch} for k in names["input_names"]}),
    ]
    errors = []
    for label, shapes in attempts:
        try:
            start = time.time()
            extra = {"opset_version": opset} if opset else {}
            torch.onnx.export(Wrapper(model), example, path, dynamo=True, dynamic_shapes=shapes, external_data=False, **names, **extra)
            report[os.path.basename(path)] = {"dynamic": label, "seconds": round(time.time() - start, 1), "bytes": os.path.getsize(path)}
            return True
        except Exception as e:  # noqa: BLE001 - try the next form, report all
            errors.append(f"{label}: {type(e).__name__}: {str(e)[:400]}")
    report[os.path.basename(path)] = {"errors": errors}
    return False


def dims_of(path):
    import onnx
    m = onnx.load(path, load_external_data=False)
    return {i.name: [d.dim_param or d.dim_value for d in i.type.tensor_type.shape.dim] for i in m.graph.input}


VARIANTS = ("fp32", "fp16", "op23", "xf", "fused")


def export(directory, only=VARIANTS):
    os.makedirs(directory, exist_ok=True)
    report = {"torch": torch.__version__, "transformers": transformers.__version__}
    fp32 = os.path.join(directory, "bert_fp32.onnx")
    fp16 = os.path.join(directory, "bert_fp16.onnx")
    if ("fp32" in only or "fused" in only) and export_one(make_model(torch.float32), fp32, report):
        report["input_dims"] = dims_of(fp32)
    if "fp16" in only or "xf" in only:
        if export_one(make_model(torch.float16), fp16, report):
            report.setdefault("input_dims", dims_of(fp16))
    # Opset 23 has ONNX's own Attention op, which the exporter can emit for scaled_dot_product_attention: one fused kernel
    # per layer instead of MatMul/Softmax/Transpose chains, if ONNX Runtime's CUDA provider takes it.
    if "op23" in only:
        export_one(make_model(torch.float16), os.path.join(directory, "bert_fp16_op23.onnx"), report, opset=23)
    if "xf" in only:
        fuse_for_ort(fp16, os.path.join(directory, "bert_fp16_xf.onnx"), report)
    if "fused" not in only:
        with open(os.path.join(directory, "export.json"), "w") as f:
            json.dump(report, f, indent=1)
        print(json.dumps(report))
        return
    try:
        from onnxruntime.transformers import optimizer
        start = time.time()
        opt = optimizer.optimize_model(fp32, model_type="bert", num_heads=12, hidden_size=768, opt_level=0)
        fused = opt.get_fused_operator_statistics()
        opt.convert_float_to_float16(keep_io_types=False)
        path = os.path.join(directory, "bert_fp16_fused.onnx")
        opt.save_model_to_file(path)
        report["bert_fp16_fused.onnx"] = {"fused_operators": fused, "seconds": round(time.time() - start, 1), "bytes": os.path.getsize(path)}
    except Exception as e:  # noqa: BLE001
        report["bert_fp16_fused.onnx"] = {"error": f"{type(e).__name__}: {str(e)[:400]}"}
    with open(os.path.join(directory, "export.json"), "w") as f:
        json.dump(report, f, indent=1)
    print(json.dumps(report))


def fuse_for_ort(src, dst, report):
    """The dynamo export through onnxscript's ONNX Runtime fusions (the rewriter meant for torch.onnx's dynamo graphs):
    scaled-dot-product attention -> com.microsoft MultiHeadAttention / Attention, LayerNorm + residual ->
    SkipLayerNormalization, erf GELU + bias -> BiasGelu. Reports the fusion counts and the op histogram."""
    name = os.path.basename(dst)
    try:
        import collections
        import onnx
        try:
            import onnx_ir as ir
        except ImportError:
            from onnxscript import ir
        from onnxscript.rewriter.ort_fusions import optimize_for_ort
        start = time.time()
        model, counts = optimize_for_ort(ir.load(src))
        ir.save(model, dst)
        ops = collections.Counter(n.op_type for n in onnx.load(dst, load_external_data=False).graph.node)
        report[name] = {"fusions": counts, "ops": dict(ops.most_common()), "seconds": round(time.time() - start, 1),
                        "bytes": os.path.getsize(dst)}
    except Exception as e:  # noqa: BLE001 - the plain exports still get measured
        report[name] = {"error": f"{type(e).__name__}: {str(e)[:600]}", "trace": traceback.format_exc()[-1500:]}


def timed(fn, iters):
    """Median and p99 of synchronized wall time per call, ms (a forward at these sizes is launch- or compute-bound)."""
    for _ in range(50):
        fn()
    torch.cuda.synchronize()
    samples = []
    for _ in range(iters):
        t0 = time.perf_counter()
        fn()
        torch.cuda.synchronize()
        samples.append((time.perf_counter() - t0) * 1000)
    samples.sort()
    return {"p50": round(samples[len(samples) // 2], 4), "p99": round(samples[min(len(samples) - 1, int(len(samples) * 0.99))], 4),
            "min": round(samples[0], 4), "n": len(samples)}


def baseline(out):
    results = {"device": torch.cuda.get_device_name(0), "torch": torch.__version__, "seq": SEQ, "rows": []}
    torch.backends.cuda.matmul.allow_tf32 = False
    for dtype, label in ((torch.float16, "fp16"), (torch.float32, "fp32")):
        model = make_model(dtype).cuda()
        for batch in BATCHES:
            host = inputs(batch, SEQ)
            dev = tuple(t.cuda() for t in host)
            with torch.inference_mode():
                resident = timed(lambda: model(input_ids=dev[0], attention_mask=dev[1], token_type_ids=dev[2]), 400)

                def with_copies():
                    d = tuple(t.cuda(non_blocking=False) for t in host)
                    o = model(input_ids=d[0], attention_mask=d[1], token_type_ids=d[2])
                    return o.pooler_output.cpu()

                copies = timed(with_copies, 400)
            row = {"precision": label, "batch": batch, "device_resident_ms": resident, "with_host_copies_ms": copies}
            results["rows"].append(row)
            print(json.dumps(row), flush=True)
        del model
        torch.cuda.empty_cache()
    with open(out, "w") as f:
        json.dump(results, f, indent=1)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("what", choices=["export", "baseline"])
    parser.add_argument("--dir", default="models")
    parser.add_argument("--out", default="baseline.json")
    parser.add_argument("--only", default=",".join(VARIANTS), help="export: which of " + ", ".join(VARIANTS) + " (comma-separated)")
    args = parser.parse_args()
    try:
        export(args.dir, tuple(args.only.split(","))) if args.what == "export" else baseline(args.out)
    except Exception:  # noqa: BLE001
        traceback.print_exc()
        sys.exit(1)


if __name__ == "__main__":
    main()
