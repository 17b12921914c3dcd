"""How long a request waits on a dependency that accepts connections and never answers.

Starts a TCP server that accepts and never answers (tests/hanging_server.py), points Bedrock
(KB_BACKEND=bedrock, BEDROCK_ENDPOINT_URL) and then also DynamoDB (INTERACTION_STORE=dynamodb,
DYNAMODB_ENDPOINT_URL) at it, serves the project with gunicorn (2 sync workers, SQLite in a
temporary folder, DEBUG off) and times POST /tickets, GET /kb/search and GET /health over HTTP:

    .venv/bin/python bench/hanging.py [--repeat 5]

Prints each request's status, `degraded` and median seconds. Nothing leaves the machine.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.servers import HOST, VENV_BIN, free_port  # noqa: E402
from tests.hanging_server import HangingServer  # noqa: E402

TICKET = {
    "customer": {"email": "ana@example.com", "name": "Ana"},
    "subject": "Refund for damaged blender",
    "body": "My order arrived broken, how do I get my money back?",
}


def request(url: str, key: str, body: dict | None = None) -> tuple[int, dict, float]:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method="POST" if data else "GET")
    req.add_header("Authorization", f"Api-Key {key}")
    req.add_header("Content-Type", "application/json")
    started = time.perf_counter()
    try:
        with urllib.request.urlopen(req, timeout=120) as response:
            status, text = response.status, response.read()
    except urllib.error.HTTPError as exc:
        status, text = exc.code, exc.read()
    elapsed = time.perf_counter() - started
    try:
        payload = json.loads(text)
    except ValueError:
        payload = {"raw": text[:200].decode(errors="replace")}
    return status, payload, elapsed


def scenario(name: str, env: dict[str, str], repeat: int) -> None:
    with tempfile.TemporaryDirectory() as folder:
        env = {
            **os.environ,
            "SECRET_KEY": "bench-hanging",
            "DEBUG": "false",
            "ALLOWED_HOSTS": HOST,
            "DATABASE_URL": f"sqlite:///{folder}/db.sqlite3",
            "AWS_ACCESS_KEY_ID": "bench",
            "AWS_SECRET_ACCESS_KEY": "bench",
            "AWS_EC2_METADATA_DISABLED": "true",
            "THROTTLE_RATE_ANON": "100000/min",
            **env,
        }
        python = str(VENV_BIN / "python")
        manage = [python, str(ROOT / "manage.py")]
        subprocess.run([*manage, "migrate", "--no-input"], env=env, check=True, capture_output=True)
        key = (
            subprocess.run(
                [*manage, "create_api_key", "bench", "--scope", "agent"],
                env=env,
                check=True,
                capture_output=True,
            )
            .stdout.decode()
            .strip()
        )
        port = free_port()
        server = subprocess.Popen(
            [str(VENV_BIN / "gunicorn"), "-w", "2", "-b", f"{HOST}:{port}", "--timeout", "60"]
            + ["helpdesk.wsgi:application"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        try:
            base = f"http://{HOST}:{port}"
            for _ in range(300):
                try:
                    urllib.request.urlopen(f"{base}/schema", timeout=1).read()
                    break
                except OSError:
                    time.sleep(0.2)
            print(f"\n{name}")
            calls = {
                "POST /tickets": lambda n: request(
                    f"{base}/tickets", key, {**TICKET, "subject": f"{TICKET['subject']} {n}"}
                ),
                "GET /kb/search": lambda n: request(f"{base}/kb/search?q=refund+{n}", key),
                "GET /health": lambda n: request(f"{base}/health", key),
            }
            for label, call in calls.items():
                runs = [call(n) for n in range(repeat)]
                status, payload, _ = runs[-1]
                detail = payload.get("degraded", payload.get("error", {}).get("code"))
                if label == "GET /health":
                    detail = {k: v["status"] for k, v in payload.get("checks", {}).items()}
                median = statistics.median(elapsed for *_, elapsed in runs)
                print(f"  {label:15} {status} {detail}  median {median:.2f} s over {repeat}")
        finally:
            server.terminate()
            server.wait(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    with HangingServer() as hanging:
        bedrock = {
            "KB_BACKEND": "bedrock",
            "BEDROCK_KB_ID": "KB12345678",
            "BEDROCK_DATA_SOURCE_ID": "DS12345678",
            "BEDROCK_ENDPOINT_URL": hanging.url,
        }
        scenario("Bedrock hangs (KB_BACKEND=bedrock)", bedrock, args.repeat)
        scenario(
            "Bedrock and DynamoDB hang (INTERACTION_STORE=dynamodb)",
            {
                **bedrock,
                "INTERACTION_STORE": "dynamodb",
                "DYNAMODB_ENDPOINT_URL": hanging.url,
            },
            args.repeat,
        )


if __name__ == "__main__":
    main()
