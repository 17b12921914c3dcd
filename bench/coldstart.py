"""Cold start of the Lambda package: import + Zappa `LambdaHandler()` init in a fresh process.

    .venv/bin/python bench/coldstart.py [--runs 9] [--zip .build/helpdesk-dev-x86_64.zip]

Builds the package for this machine's architecture with deploy/package.py (the same build as
`make package`, only the native wheels differ) unless `--zip` is given, unzips it, and starts a
fresh interpreter per run that sees the unzipped package and the standard library only (`-S`:
no site-packages, like /var/task first on Lambda's path) and the function's environment as
deployed (`INSTANTIATE_LAMBDA_HANDLER_ON_IMPORT=true`, the secrets as variables). Each run times,
inside the child:

- `init`: importing the entry point `helpdesk.lambda_tasks`, which imports Zappa's handler and
  builds `LambdaHandler()`: the generated settings, the environment, Django's WSGI app
  (`django.setup()`). On Lambda this is the init phase;
- `first request`: one HTTP API v2 event for an unknown path, which imports the whole URLconf
  (views, serializers) but needs no database;

and, from the parent, the process's wall time and CPU time (user + system, which moves less than
wall time when other work shares the machine). Two variants, alternated run by run:
`bytecode` is the zip as built (unchecked-hash .pyc files); `no bytecode` is the same tree
without `__pycache__` and with `-B`, as on Lambda's read-only /var/task without precompiled
files: every module is compiled on every cold start. Prints medians; DESIGN's target is
init ≤ 1 s.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ARCHITECTURES = {"x86_64": "x86_64", "amd64": "x86_64", "aarch64": "arm64", "arm64": "arm64"}
TARGET_S = 1.0

CHILD = r"""
import json, os, sys, time
started = time.perf_counter()
sys.path.insert(0, os.getcwd())
from helpdesk.lambda_tasks import lambda_handler
import zappa.handler
assert zappa.handler.global_handler is not None, "LambdaHandler was not built on import"
initialised = time.perf_counter()
event = {
    "version": "2.0", "routeKey": "$default", "rawPath": "/dev/coldstart-probe",
    "rawQueryString": "", "headers": {"host": "abc123.execute-api.eu-west-2.amazonaws.com"},
    "requestContext": {"stage": "dev", "http": {"method": "GET", "path": "/dev/coldstart-probe",
        "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1", "userAgent": "coldstart"}},
    "isBase64Encoded": False,
}
response = lambda_handler(event, None)
answered = time.perf_counter()
print(json.dumps({
    "init_s": initialised - started,
    "first_request_s": answered - initialised,
    "status": response["statusCode"],
    "modules": len(sys.modules),
}))
"""


def host_architecture() -> str:
    return ARCHITECTURES[platform.machine().lower()]


def build_zip(stage: str) -> Path:
    architecture = host_architecture()
    subprocess.run(
        [sys.executable, str(ROOT / "deploy" / "package.py"), "--stage", stage,
         "--architecture", architecture],
        check=True,
    )  # fmt: skip
    return ROOT / ".build" / f"helpdesk-{stage}-{architecture}.zip"


# What Lambda's environment holds for the function (zappa_settings.json's
# aws_environment_variables, the secrets set once per stage, the role's credentials).
LAMBDA_ENV = {
    "INSTANTIATE_LAMBDA_HANDLER_ON_IMPORT": "true",
    "SECRET_KEY": "coldstart-bench-only",
    "DATABASE_URL": "postgres://postgres@127.0.0.1:5432/helpdesk_coldstart",
    "AWS_ACCESS_KEY_ID": "bench",
    "AWS_SECRET_ACCESS_KEY": "bench",
    "AWS_SESSION_TOKEN": "bench",
    "AWS_REGION": "eu-west-2",
    "AWS_DEFAULT_REGION": "eu-west-2",
    "AWS_CONFIG_FILE": os.devnull,
    "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
    "AWS_EC2_METADATA_DISABLED": "true",
    "LANG": "C.UTF-8",
}


def run_once(package: Path, *, bytecode: bool) -> dict:
    env = {"PATH": os.environ.get("PATH", ""), **LAMBDA_ENV}
    flags = ["-s", "-S"] + ([] if bytecode else ["-B"])
    cpu_before = _children_cpu()
    started = time.perf_counter()
    result = subprocess.run(
        [sys.executable, *flags, "-c", CHILD],
        cwd=package,
        env=env,
        capture_output=True,
        text=True,
    )
    wall = time.perf_counter() - started
    cpu = _children_cpu() - cpu_before
    if result.returncode:
        raise SystemExit(f"The cold start failed:\n{result.stderr[-3000:]}")
    figures = json.loads(result.stdout.strip().splitlines()[-1])
    figures["process_s"] = wall
    figures["process_cpu_s"] = cpu
    return figures


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def strip_bytecode(source: Path, target: Path) -> None:
    shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--zip", type=Path, help="a package built for this machine's architecture")
    parser.add_argument("--stage", default="dev")
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args(argv)

    path = args.zip or build_zip(args.stage)
    with tempfile.TemporaryDirectory(prefix="coldstart-") as tmp:
        with_bytecode = Path(tmp) / "bytecode"
        with zipfile.ZipFile(path) as archive:
            archive.extractall(with_bytecode)
        without_bytecode = Path(tmp) / "no-bytecode"
        strip_bytecode(with_bytecode, without_bytecode)
        runs: dict[str, list[dict]] = {"bytecode": [], "no bytecode": []}
        for _ in range(args.runs):
            runs["bytecode"].append(run_once(with_bytecode, bytecode=True))
            runs["no bytecode"].append(run_once(without_bytecode, bytecode=False))

    print(f"\nCold start of {path.name} ({path.stat().st_size / 2**20:.1f} MB), "
          f"{args.runs} runs each, medians (s); target init ≤ {TARGET_S:g} s")  # fmt: skip
    print(
        f"{'variant':<12} {'init':>7} {'1st req':>8} {'process':>8} {'CPU':>7} {'modules':>8}"
        "  init range"
    )
    summary = {}
    for name, figures in runs.items():
        init = [f["init_s"] for f in figures]
        row = {
            "init_s": statistics.median(init),
            "first_request_s": statistics.median(f["first_request_s"] for f in figures),
            "process_s": statistics.median(f["process_s"] for f in figures),
            "process_cpu_s": statistics.median(f["process_cpu_s"] for f in figures),
            "modules": figures[-1]["modules"],
            "init_min_s": min(init),
            "init_max_s": max(init),
        }
        summary[name] = row
        print(
            f"{name:<12} {row['init_s']:7.3f} {row['first_request_s']:8.3f} "
            f"{row['process_s']:8.3f} {row['process_cpu_s']:7.3f} {row['modules']:8d}  "
            f"{min(init):.3f}–{max(init):.3f}"
            + ("" if row["init_s"] <= TARGET_S else "  over target")
        )
    load = os.getloadavg()[0]
    print(f"load average (1 min) at the end: {load:.2f} on {os.cpu_count()} CPUs")
    if args.json:
        args.json.write_text(
            json.dumps({"zip": str(path), "runs": args.runs, "load": load, **summary}, indent=2)
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
