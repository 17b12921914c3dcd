"""The printed table (figures next to DESIGN.md's targets) and facts about the machine."""

from __future__ import annotations

import json
import os
import platform
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# DESIGN.md, "Targets" (for comparison only).
TARGETS = {
    "create-1": {"median_ms": ("<=", 15.0)},
    "create-8": {"req_per_s": (">=", 160.0), "p99_ms": ("<=", 100.0)},
    "context-1": {"median_ms": ("<=", 8.0)},
}


# --- output --------------------------------------------------------------------------------


def machine_info() -> dict:
    def git(*args: str) -> str:
        done = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True)
        return done.stdout.strip()

    return {
        "cpus": os.cpu_count(),
        "loadavg_at_start": [round(x, 2) for x in os.getloadavg()],
        "python": platform.python_version(),
        "platform": platform.platform(),
        "git_commit": git("rev-parse", "--short", "HEAD"),
        "git_dirty_files": len(git("status", "--porcelain").splitlines()),
    }


def _target(scenario: str, metric: str) -> str:
    op, value = TARGETS.get(scenario, {}).get(metric, ("", None))
    return f"{op} {value:g}" if value is not None else ""


CREATE_ROWS = ["median_ms", "p90_ms", "p99_ms", "mean_ms", "req_per_s"]
CONTEXT_ROWS = ["median_ms", "p90_ms", "p99_ms", "req_per_s"]
CPU_ROWS = [
    "server_cpu_ms_per_req",
    "db_cpu_ms_per_req",
    "others_cpu_share",
    "machine_busy_share_before",
]


def print_report(report: dict) -> None:
    kb, machine, results = report["kb"], report["machine"], report["results"]
    print()
    print(f"KB: {kb.get('chunks')} chunks ({kb['source']}, backend {kb.get('backend')})")
    print(
        f"machine: {machine['cpus']} CPUs, load average at start {machine['loadavg_at_start']}, "
        f"at end {machine.get('loadavg_at_end')}"
    )
    header = f"{'scenario':<28}{'metric':<23}{'measured':>10}   DESIGN target"
    print()
    print(header)
    print("-" * len(header))

    def row(scenario: str, label: str, metric: str, value) -> None:
        shown = "-" if value is None else f"{value:g}" if isinstance(value, float) else str(value)
        print(f"{label:<28}{metric:<23}{shown:>10}   {_target(scenario, metric)}")

    for name in ["create-1", "create-8"]:
        if name not in results:
            continue
        r = results[name]
        label = f"{name} ({r['clients']} client{'s' if r['clients'] > 1 else ''})"
        for metric in CREATE_ROWS + CPU_ROWS:
            row(name, label, metric, r[metric])
        row(name, label, "all 201", r["all_201"])
        if name == "create-8":
            checked = "ok" if r["nothing_lost_or_duplicated"] else "MISMATCH"
            row(name, label, "DB: none lost/duplic.", checked)
        row(name, label, "degraded answers", r["degraded_responses"])
        row(name, label, "suggestions/ticket", r["mean_suggestions"])
    for name in ["reply-1", "follow-up-1"]:  # POST /tickets/{id}/messages, one client
        if name in results:
            r = results[name]
            for metric in CREATE_ROWS + CPU_ROWS:
                row(name, f"{name} (1 client)", metric, r[metric])
            checked = "ok" if r["nothing_lost_or_duplicated"] else "MISMATCH"
            row(name, f"{name} (1 client)", "DB: none lost/duplic.", checked)
    if "inbound-1" in results:  # POST /inbound/email, one client
        r = results["inbound-1"]
        for metric in CREATE_ROWS + CPU_ROWS:
            row("inbound-1", "inbound-1 (1 client)", metric, r[metric])
        checked = "ok" if r["nothing_lost_or_duplicated"] else "MISMATCH"
        row("inbound-1", "inbound-1 (1 client)", "DB: none lost/duplic.", checked)
        row(
            "inbound-1",
            "inbound-1 (1 client)",
            "new / threaded",
            f"{r['new_tickets']}/{r['threaded']}",
        )
        row("inbound-1", "inbound-1 (1 client)", "suggestions/message", r["mean_suggestions"])
    if "triage-1" in results:  # POST /tickets, one client, without / with / without a model
        r = results["triage-1"]
        for phase in ["no_model", "model", "no_model_again"]:
            p = r["phases"][phase]
            for metric in ["median_ms", "p90_ms", "server_cpu_ms_per_req"]:
                if metric in p:
                    row("triage-1", f"triage-1 {phase}", metric, p[metric])
        row("triage-1", "triage-1 model", "statuses", json.dumps(r["model_statuses"]))
        delta = r["model_minus_no_model_median_ms"]
        row("triage-1", "triage-1 model - no model", "median_ms", delta)
    if "context-1" in results:
        for r in results["context-1"]["sizes"]:
            label = f"context-1 @{r['tickets_in_table']} tickets"
            for metric in CONTEXT_ROWS + CPU_ROWS:
                row("context-1", label, metric, r[metric])
            row("context-1", label, "statuses", json.dumps(r["statuses"]))
        ratio = results["context-1"]["largest_over_smallest"]
        if ratio is not None:
            row("context-1", "context-1 flatness", "median large/small", ratio)
    for name, r in results.items():
        failures = [f for size in r.get("sizes", [r]) for f in size.get("first_failures", [])]
        for failure in failures:
            print(f"  {name} failure: {failure}")
    print()
    print(f"server RSS per worker (MB): {report['server_rss_mb']}  (DESIGN: <= 700)")
    timings = ", ".join(f"{k} {v:g}s" for k, v in report["timings_s"].items())
    print(f"timings: {timings}; total {report['total_s']:g}s")
