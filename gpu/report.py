"""Reads gpu/measure.sh's raw.jsonl (+ baseline.json) and prints the markdown table, or the best FP16 variant to serve.

  python3 gpu/report.py best  raw.jsonl SUFFIX      (SUFFIX: _iobinding or _dynamic_graph)
  python3 gpu/report.py table raw.jsonl baseline.json
"""
import json
import sys



def load(path):
    rows = []
    try:
        with open(path) as f:
            for line in f:
                line = line.strip()
                if line.startswith("{"):
                    try:
                        rows.append(json.loads(line))
                    except json.JSONDecodeError:
                        pass
    except OSError:
        pass
    return rows


def engine(rows):
    return [r for r in rows if r.get("mode") == "engine" and "error" not in r]


def p50(stats):
    return stats["p50"] if stats else None


def best(rows, suffix):
    """The FP16 dynamic-shape variant with that suffix whose batch-32 compute_infer p50 is lowest."""
    candidates = [r for r in engine(rows) if r["name"].startswith("fp16") and r["name"].endswith(suffix) and r["batch"] == 32]
    return min(candidates, key=lambda r: p50(r["compute_infer_ms"]))["name"] if candidates else "fp16" + suffix


def fmt(v, digits=3):
    return "–" if v is None else (f"{v:.{digits}f}" if isinstance(v, float) else str(v))


def verdict(ok):
    return "met" if ok else "MISSED"


def table(rows, baseline_path):
    out = []
    card = next((r for r in rows if r.get("mode") == "card"), {})
    out.append(f"# Sluice on {card.get('name', '?')} (driver {card.get('driver', '?')}) — BERT-base, random weights, seq 128\n")
    out.append("## Engine alone (the real OnnxModelRunner, CUDA execution provider; compute_infer ends after the session stream is synchronized)\n")
    out.append("| variant | batch | compute_infer p50 ms | p99 ms | compute_input p50 ms | compute_output p50 ms | whole run p50 ms | items/s (whole runs) | output: first values, mean abs |")
    out.append("|---|---|---|---|---|---|---|---|---|")
    for r in engine(rows):
        first = ", ".join(f"{v:.3f}" for v in r.get("output_first", [])[:3])
        out.append(f"| {r['name']} | {r['batch']} | {fmt(p50(r['compute_infer_ms']))} | {fmt(r['compute_infer_ms']['p99'])} | "
                   f"{fmt(p50(r['compute_input_ms']))} | {fmt(p50(r['compute_output_ms']))} | {fmt(p50(r['wall_ms']))} | {fmt(r['items_per_s'], 0)} | "
                   f"{first}; {fmt(r.get('output_mean_abs'), 4)} |")
    failed = [r for r in rows if r.get("mode") == "engine" and "error" in r]
    for r in failed:
        out.append(f"\nfailed engine run: {r['error'][:300]}")

    configs = {r.get("served", "bert"): r for r in rows if r.get("mode") == "server_config"}
    start = next((r for r in rows if r.get("mode") == "server_start"), {})
    grpc = [r for r in rows if r.get("mode") == "grpc" and "error" not in r]
    out.append("\n## Through the server (`sluice serve --device cuda`, gRPC, dynamic batching, max_batch_size 32, FP16, dynamic shapes)\n")
    for name, c in configs.items():
        preferred = f", preferred_batch_size {c['preferred_batch_size']}" if c.get("preferred_batch_size") else ""
        out.append(f"- `{name}`: variant {c['model']}, {c['instances']} instance(s) on GPU 0, max_queue_delay {c['max_queue_delay_us']} µs{preferred}")
    out.append(f"- NVML hidden from the server process: {start.get('nvml_hidden', '?')} (see measure.log)\n")
    out.append("Server A runs as shipped; B with `--inline-io` (older raw files: B-inline-io clients also inlined their socket completions, B-server-only did not). "
               "'server' is the server's whole share of a request (read until the response was encoded, `sluice-server-us`); 'outside' is "
               "the client's latency minus it: both gRPC stacks, thread wake-ups and the loopback.\n")
    out.append("Runs with timing trailers show p50s from them; runs without show means over the run from the statistics endpoint "
               "(`/v2/models/{m}/stats` before and after: request = the server's success duration, batch = inferences per execution).\n")
    out.append("| server | model | batch per request | concurrency | channels | output | requests | items/s | latency p50 ms | p99 ms | server ms | outside p50 ms | compute_infer ms | queue ms | batch size |")
    out.append("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in grpc:
        st = r.get("server_stats_mean")
        if st:
            server, outside, infer, queue, batch = (f"{st['request_ms']:.3f} (mean)", "–", f"{st['compute_infer_ms']:.3f} (mean)",
                                                    f"{st['queue_ms']:.3f} (mean)", f"{st['batch_size']:.1f} (mean)")
        else:
            server, outside, infer, queue, batch = (fmt(p50(r.get('server_total_ms'))), fmt(p50(r.get('outside_server_ms'))),
                                                    fmt(p50(r.get('server_compute_infer_ms'))), fmt(p50(r.get('server_queue_ms'))),
                                                    fmt(p50(r.get('server_batch_size'))))
        out.append(f"| {r.get('label') or 'A'} | {r['model']} | {r['batch']} | {r['concurrency']} | {r.get('channels', 1)} | {r['output']} | {r['requests']} | {fmt(r['items_per_s'], 0)} | {fmt(p50(r['latency_ms']))} | "
                   f"{fmt(r['latency_ms']['p99'])} | {server} | {outside} | {infer} | {queue} | {batch} |")
    for r in rows:
        if r.get("mode") == "grpc" and "error" in r:
            out.append(f"\nfailed gRPC run: {r['error'][:300]}")

    try:
        with open(baseline_path) as f:
            base = json.load(f)
    except (OSError, json.JSONDecodeError):
        base = {"rows": []}
    out.append(f"\n## PyTorch eager baseline (same call, {base.get('device', '?')}, torch {base.get('torch', '?')})\n")
    out.append("| precision | batch | device-resident p50 ms | min ms | with host copies p50 ms | min ms |")
    out.append("|---|---|---|---|---|---|")
    for r in base["rows"]:
        out.append(f"| {r['precision']} | {r['batch']} | {fmt(r['device_resident_ms']['p50'])} | {fmt(r['device_resident_ms']['min'])} | "
                   f"{fmt(r['with_host_copies_ms']['p50'])} | {fmt(r['with_host_copies_ms']['min'])} |")

    # :: Targets of issue 7.
    out.append("\n## Targets (issue 7)\n")
    out.append("| target | measured | verdict |")
    out.append("|---|---|---|")
    fp16 = [r for r in engine(rows) if "fp16" in r["name"] and "plain" not in r["name"]]

    def best_at(batch, rows_):
        c = [r for r in rows_ if r["batch"] == batch]
        return min(c, key=lambda r: p50(r["compute_infer_ms"])) if c else None

    for batch, limit in ((1, 1.0), (32, 1.5)):
        b = best_at(batch, fp16)
        if b:
            v = p50(b["compute_infer_ms"])
            out.append(f"| FP16 compute_infer p50 at batch {batch} ≤ {limit} ms (engine, best variant) | {v:.3f} ms ({b['name']}) | "
                       f"{verdict(v <= limit)}{'' if v <= limit else f' by {v - limit:.3f} ms ({v / limit:.2f}x)'} |")
        for name, c in configs.items():
            for srv in (r for r in grpc if r["model"] == name and r["concurrency"] == 1 and r["batch"] == batch and r.get("server_compute_infer_ms")):
                v = p50(srv["server_compute_infer_ms"])
                out.append(f"| same, through server {srv.get('label') or 'A'} (`{name}`, timing trailers) | {v:.3f} ms | {verdict(v <= limit)}{'' if v <= limit else f' by {v - limit:.3f} ms'} |")
    torch16 = next((r for r in base["rows"] if r["precision"] == "fp16" and r["batch"] == 1), None)
    b1 = best_at(1, fp16)
    if torch16 and b1:
        ours = p50(b1["compute_infer_ms"])
        ratio = torch16["device_resident_ms"]["p50"] / ours
        ratio_min = torch16["device_resident_ms"]["min"] / ours
        ratio_copies = torch16["with_host_copies_ms"]["p50"] / p50(b1["wall_ms"])
        out.append(f"| ≥ 3.5x faster than PyTorch eager fp16 at batch 1 | {ratio:.2f}x against PyTorch's p50 ({torch16['device_resident_ms']['p50']:.3f} ms, "
                   f"device-resident), {ratio_min:.2f}x against its best run ({torch16['device_resident_ms']['min']:.3f} ms), vs compute_infer {ours:.3f} ms "
                   f"({b1['name']}); whole runs incl. host copies: {ratio_copies:.2f}x | {verdict(min(ratio, ratio_min) >= 3.5)} |")
    for name, c in configs.items():
        bare = next((r for r in engine(rows) if r["name"] == c["model"] and r["batch"] == 32 and r["output"] == "pooler_output"), None)
        if not bare:
            continue
        groups = {}
        for load in (r for r in grpc if r["model"] == name and r["concurrency"] == 32 and r["output"] == "pooler_output"):
            groups.setdefault((load.get("label") or "A", load.get("channels", 1)), []).append(load)
        for (label, channels), loads in groups.items():
            shares = [r["items_per_s"] / bare["items_per_s"] for r in loads]
            p99s = [r["latency_ms"]["p99"] for r in loads]
            runs = ", ".join(f"{r['items_per_s']:.0f}/s = {sh:.0%}" for r, sh in zip(loads, shares))
            out.append(f"| server {label}, `{name}`, {channels} channel(s): throughput at concurrency 32 ≥ 80% of the bare engine's batch 32 "
                       f"({c['model']}, {bare['items_per_s']:.0f}/s) | {runs}; p99 {', '.join(f'{p:.2f}' for p in p99s)} ms | "
                       f"{verdict(min(shares) >= 0.8)}{' in every run' if len(loads) > 1 and min(shares) >= 0.8 else ''}, p99 {verdict(max(p99s) < 10)} |")
    mem = next((r for r in rows if r.get("mode") == "memory"), None)
    if mem:
        used_metric = None
        for part in mem["sluice_metrics"].split(";"):
            if part.startswith("nv_gpu_memory_used_bytes"):
                used_metric = float(part.split()[-1])
        smi_used = float(mem["nvidia_smi_used_total_mib"].split(",")[0]) * 1024 * 1024 if mem["nvidia_smi_used_total_mib"] else None
        if used_metric and smi_used:
            diff = abs(used_metric - smi_used) / smi_used
            out.append(f"| GPU memory reported by Sluice within 5% of nvidia-smi | /metrics {used_metric / 2**20:.0f} MiB vs nvidia-smi {smi_used / 2**20:.0f} MiB ({diff:.1%}) | {verdict(diff <= 0.05)} |")
        else:
            out.append(f"| GPU memory reported by Sluice within 5% of nvidia-smi | /metrics had no nv_gpu_memory_used_bytes ({mem['sluice_metrics'] or 'empty'}); nvidia-smi {mem['nvidia_smi_used_total_mib']} MiB | not measured |")
    nvml = next((r for r in rows if r.get("mode") == "nvml" and "error" not in r and r.get("pid")), None)
    if nvml and mem and mem.get("nvidia_smi_apps"):
        apps = {int(p.split(",")[0]): float(p.split(",")[1]) for p in mem["nvidia_smi_apps"].split(";") if "," in p}
        # nvidia-smi's figure for the server's own process (older raw files: the sum, when one server ran)
        app_mib = apps.get(mem.get("server_pid"), sum(apps.values()))
        proc = (nvml.get("process_used_bytes") or 0) / 2**20
        out.append(f"| (for comparison) the server process's own NVML figure vs nvidia-smi's per-process figure | {proc:.0f} MiB vs {app_mib:.0f} MiB "
                   f"({abs(proc - app_mib) / app_mib:.1%}) | {verdict(abs(proc - app_mib) / app_mib <= 0.05)} |")
    idle = next((r for r in rows if r.get("mode") == "nvml" and "error" not in r and not r.get("pid")), None)
    if idle:
        out.append(f"\nNVML before the server started (nothing running; nvidia-smi shows 0 MiB then): used {idle['used_bytes'] / 2**20:.0f} MiB — "
                   f"the driver's reserved memory, which nvmlDeviceGetMemoryInfo (v1) counts as used and nvidia-smi does not.")
    if nvml:
        out.append(f"\nNVML read by GpuBench: device used {nvml['used_bytes'] / 2**20:.0f} MiB of {nvml['total_bytes'] / 2**20:.0f} MiB; "
                   f"server process {fmt((nvml['process_used_bytes'] or 0) / 2**20, 0)} MiB.")
    print("\n".join(out))


def metrics(text):
    """'name{labels} value;...' (a scrape flattened by serving_diag.sh) -> {name{labels}: value}."""
    out = {}
    for part in text.split(";"):
        bits = part.strip().rsplit(" ", 1)
        if len(bits) == 2:
            try:
                out[bits[0].replace("{}", "")] = float(bits[1])   # the exposition writes unlabeled series as name{}
            except ValueError:
                pass
    return out


def diag(path):
    """gpu/serving_diag.sh's diag.jsonl -> a table: each served config at concurrency 32, with the runtime's GC and thread-pool
    counters over the run, and the bare engine's throughput at batch 16 and 32 for the ratios."""
    rows = load(path)
    engines = {}
    out = ["| GC | model | channels | items/s | vs bare b32 | latency p50 / p99 ms | compute_infer p50 / p90 / p99 ms | queue p50 / p99 ms | "
           "batch mean | GC pause ms (run) | gen0/1/2 GCs (run) | thread-pool threads / queued after | CPU util after |",
           "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for row in rows:
        r = row.get("result", {})
        if r.get("mode") == "engine":
            engines[(r["name"], r["batch"])] = r["items_per_s"]
    out.insert(0, "Bare engine items/s: " + ", ".join(f"{k[0]} batch {k[1]} = {v:.0f}" for k, v in sorted(engines.items())) + "\n")
    for row in rows:
        r = row.get("result", {})
        if r.get("mode") != "grpc":
            continue
        if "error" in r:
            out.append(f"| {row['gc']} | error: {r['error'][:200]} |")
            continue
        b, a = metrics(row.get("before", "")), metrics(row.get("after", ""))
        delta = lambda k: a.get(k, 0) - b.get(k, 0)
        gens = "/".join(f"{delta('sluice_process_gc_collections_total{generation=' + g + '}'):.0f}" for g in "012")
        pause = delta("sluice_process_gc_pause_seconds_total") * 1000
        ref = engines.get(("op23" if r["model"].startswith("op") else "xf", 32))
        share = f"{r['items_per_s'] / ref:.0%}" if ref else "–"
        inf, q, lat = r["server_compute_infer_ms"], r["server_queue_ms"], r["latency_ms"]
        out.append(f"| {row['gc']} | {r['model']} | {r.get('channels', 1)} | {r['items_per_s']:.0f} | {share} | {lat['p50']:.2f} / {lat['p99']:.2f} | "
                   f"{inf['p50']:.2f} / {inf['p90']:.2f} / {inf['p99']:.2f} | {q['p50']:.2f} / {q['p99']:.2f} | {r['server_batch_size']['mean']:.1f} | "
                   f"{pause:.1f} | {gens} | {a.get('sluice_process_threadpool_threads', 0):.0f} / {a.get('sluice_process_threadpool_queue_length', 0):.0f} | "
                   f"{a.get('nv_cpu_utilization', 0):.2f} |")
    print("\n".join(out))


if __name__ == "__main__":
    rows = load(sys.argv[2])
    if sys.argv[1] == "diag":
        diag(sys.argv[2])
    elif sys.argv[1] == "best":
        print(best(rows, sys.argv[3] if len(sys.argv) > 3 else "_iobinding"))
    else:
        table(rows, sys.argv[3] if len(sys.argv) > 3 else "")
