"""A ``siamese bench`` report as ratios (same-run speed-ups over fp32 and over torch eager) and as Markdown."""

from __future__ import annotations

from typing import Any


def ratios(report: dict[str, Any]) -> dict[str, float]:
    """Throughput ratios at batch 64 (``a_over_b`` = a's items/s / b's) and the int8/fp32 size ratio.

    Each variant over fp32 and, when ``--torch`` ran, over torch eager (``torch``).
    """
    v = report["variants"]
    out: dict[str, float] = {}
    tp = {n: e["throughput_b64_per_s"] for n, e in v.items()}
    torch_tp = report.get("torch_eager", {}).get("throughput_b64_per_s")
    for a in ("int8", "fp16"):
        if a in tp and "fp32" in tp:
            out[f"{a}_over_fp32_throughput_b64"] = tp[a] / tp["fp32"]
    for a in ("int8", "fp32", "fp16"):
        if a in tp and torch_tp:
            out[f"{a}_over_torch_throughput_b64"] = tp[a] / torch_tp
    if "int8" in v and "fp32" in v:
        out["int8_over_fp32_size"] = v["int8"]["size_bytes"] / v["fp32"]["size_bytes"]
    return out


def markdown(report: dict[str, Any]) -> str:
    """The report as a Markdown table (absolute numbers, then ratios)."""
    cols = [
        ("size KB", lambda e: f"{e['size_bytes'] / 1024:.0f}"),
        ("b1 p50 ms", lambda e: f"{e['latency_ms_b1_p50']:.2f}"),
        ("b1 p99 ms", lambda e: f"{e['latency_ms_b1_p99']:.2f}"),
        ("b64 items/s", lambda e: f"{e['throughput_b64_per_s']:.0f}"),
        ("cold start ms", lambda e: f"{e['cold_start_ms']:.0f}"),
        ("peak RSS MB", lambda e: f"{e['peak_rss_mb']:.0f}"),
        ("AUC", lambda e: f"{e['auc']:.4f}" if "auc" in e else "-"),
        ("EER", lambda e: f"{e['eer']:.4f}" if "eer" in e else "-"),
    ]
    lines = [
        f"Machine: {report['machine']['cpu']} ({report['machine']['cores']} cores), onnxruntime {report['machine']['onnxruntime']}",
        "",
        "| variant | " + " | ".join(c for c, _ in cols) + " |",
        "|---" * (len(cols) + 1) + "|",
    ]
    for name, e in report["variants"].items():
        lines.append(f"| {name} | " + " | ".join(f(e) for _, f in cols) + " |")
    if "torch_eager" in report:
        e = report["torch_eager"]
        value = f"{e['throughput_b64_per_s']:.0f}" if "throughput_b64_per_s" in e else f"skipped: {e.get('skipped', '?')}"
        lines.append(f"| torch eager | - | - | - | {value} | - | - | - | - |")
    if report.get("per_provider"):
        lines += ["", "| provider | variant | b1 p50 ms | b64 items/s |", "|---|---|---|---|"]
        for p, by_variant in report["per_provider"].items():
            lines += [
                f"| {p} | {n} | {e['latency_ms_b1_p50']:.2f} | {e['throughput_b64_per_s']:.0f} |" for n, e in by_variant.items()
            ]
    shipped = [(n, e["at_shipped_thresholds"]) for n, e in report["variants"].items() if "at_shipped_thresholds" in e]
    if shipped:
        lines += ["", "| variant | operating point | threshold | FAR | FRR |", "|---|---|---|---|---|"]
        for n, by_op in shipped:
            lines += [f"| {n} | {op} | {x['threshold']:.4f} | {x['far']:.4f} | {x['frr']:.4f} |" for op, x in by_op.items()]
    if report["ratios"]:
        lines += ["", "| ratio | value |", "|---|---|"] + [f"| {k} | {v:.2f} |" for k, v in report["ratios"].items()]
    return "\n".join(lines) + "\n"
