"""Sessions: tests (core + every plugin), plugins (each plugin against the local core), lint, typecheck, demo, bench.

``nox -s tests`` is what CI runs (.ci/run) and what README.md tells a new user to run.
torch is pinned to 2.13.0 here (a CPU build that pip takes from local disk); the package itself keeps a range.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import nox

nox.options.sessions = ["tests", "lint"]
nox.options.reuse_existing_virtualenvs = True
nox.options.default_venv_backend = "venv"

ROOT = Path(__file__).parent
TORCH = "torch==2.13.0"
PLUGINS = sorted(p.name for p in (ROOT / "plugins").iterdir() if (p / "pyproject.toml").is_file())
PYTEST_FLAGS = ["--strict-config", "--strict-markers", "-ra"]


def install_core(session: nox.Session, *extras: str) -> None:
    """Install the pinned CPU torch first, then the core (editable) with ``extras``."""
    session.install(TORCH)
    spec = f".[{','.join(extras)}]" if extras else "."
    session.install("-e", spec)


def install_chromium(session: nox.Session) -> None:
    """The browser test of ftcore ui (tests/ui/test_browser.py) drives Debian's chromium through playwright
    (playwright's own browser download needs the network): install it when missing and nox runs as root."""
    if shutil.which("chromium") or shutil.which("chromium-browser") or os.environ.get("FTCORE_CHROMIUM"):
        return
    if hasattr(os, "geteuid") and os.geteuid() == 0 and shutil.which("apt-get"):
        session.run("apt-get", "update", "-qq", external=True, success_codes=[0, 100])
        session.run("apt-get", "install", "-y", "-qq", "chromium", external=True,
                    env={"DEBIAN_FRONTEND": "noninteractive"}, success_codes=[0, 100])
    else:
        session.warn("no chromium found: tests/ui/test_browser.py will fail (apt-get install -y chromium)")


def install_plugins(session: nox.Session, names: list[str]) -> None:
    """Install the plugins under plugins/ named in ``names`` (editable)."""
    for name in names:
        session.install("-e", f"plugins/{name}")


@nox.session
def tests(session: nox.Session) -> None:
    """Run the core's tests and every plugin's tests in one environment (what CI runs)."""
    # the trackers' extras: tests/training/trackers runs each of them
    install_core(session, "dev", "metrics", "vision", "bnb", "modelscope", "ui", "gguf", "wandb", "mlflow", "swanlab",
                 "trackio", "aim")
    session.install("httpx>=0.27", "playwright>=1.40")  # ftcore ui's tests: TestClient, the browser (system chromium)
    install_chromium(session)
    # train.liger's CPU check (tests/training/perf/test_liger.py) runs Liger's kernel through triton's interpreter
    session.install("liger-kernel>=0.5")
    # DeepSpeed builds against the installed torch; its ops are JIT-built on first use (tests/training/scale)
    session.install("--no-build-isolation", "deepspeed>=0.15", env={"DS_BUILD_OPS": "0"})
    install_plugins(session, PLUGINS)
    session.run("pytest", *PYTEST_FLAGS, "tests", *(f"plugins/{p}/tests" for p in PLUGINS), *session.posargs)


@nox.session
def gptq(session: nox.Session) -> None:
    """Pre-quantized GPTQ models (the ``gptq`` extra: optimum + gptqmodel, which needs torch >= 2.14.1 and, for its
    kernels, a CUDA GPU): quantize a tiny model, LoRA-train on it, save, answer. Not in the default run."""
    session.install("torch>=2.14.1")
    session.install("-e", ".[dev,gptq]")
    install_plugins(session, PLUGINS)
    session.run("python", "tests/training/scale/gptq_check.py", *session.posargs, env={"TOKENIZERS_PARALLELISM": "false"})


@nox.session
def export_quant(session: nox.Session) -> None:
    """``ftcore export --to gptq`` (gptqmodel) and ``--to awq`` (llm-compressor) on a tiny LoRA checkpoint: each
    export reloads and answers. They need torch >= 2.14.1 (gptqmodel), so not in the default run."""
    session.install("torch>=2.14.1")
    session.install("-e", ".[dev,gptq,awq]")
    # gptqmodel's CPU pool gets (cores + 1) // 2 workers but its loader asks for 2: name 2 for small machines
    session.run("python", "tests/export/quant_check.py", *session.posargs,
                env={"TOKENIZERS_PARALLELISM": "false", "GPTQMODEL_CPU_WORKERS": "2"})


@nox.session
def gpu(session: nox.Session) -> None:
    """The GPU smoke run (bench/gpu_smoke.py: bf16, flash-attention packing, QLoRA, DDP / FSDP over one GPU, the
    throughput workload) on a CUDA machine; prints one line and succeeds where there is no GPU. Not in the
    default run. PyPI's torch wheel carries CUDA; flash-attn is used when installed (``--install-flash``)."""
    session.install("torch")
    session.install("-e", ".[dev,bnb]")
    session.install("--no-build-isolation", "deepspeed>=0.18.2", env={"DS_BUILD_OPS": "0"})
    if "--install-flash" in session.posargs:
        session.install("--no-build-isolation", "flash-attn")
    install_plugins(session, PLUGINS)
    args = [a for a in session.posargs if a != "--install-flash"]
    session.run("python", "bench/gpu_smoke.py", *args, env={"TOKENIZERS_PARALLELISM": "false"})


@nox.session
@nox.parametrize("plugin", PLUGINS)
def plugins(session: nox.Session, plugin: str) -> None:
    """Install the local core plus one plugin and run that plugin's tests (downstream-style)."""
    install_core(session, "dev")
    install_plugins(session, [plugin])
    session.run("pytest", *PYTEST_FLAGS, f"plugins/{plugin}/tests", *session.posargs)


@nox.session
def lint(session: nox.Session) -> None:
    """Lint with ruff ([tool.ruff]) and check the import layers with import-linter ([tool.importlinter])."""
    session.install("ruff>=0.6", "import-linter>=2.1")
    session.run("ruff", "check", "src", "tests", "plugins", "examples", "bench", "noxfile.py")
    # import-linter reads the source only (nothing is imported), so src on the path is enough: no torch install
    session.run("lint-imports", "--no-cache", env={"PYTHONPATH": str(ROOT / "src")})


@nox.session
def typecheck(session: nox.Session) -> None:
    """Type-check src/ with mypy."""
    install_core(session, "dev")
    session.run("mypy", "src/ftcore")


@nox.session(venv_backend="virtualenv")  # seeds a recent setuptools: the core builds without an isolated env
def demo(session: nox.Session) -> None:
    """Install ftcore, fine-tune the embedded tiny model on the bundled data (offline, CPU), then chat with it."""
    # the README's first command, timed on a fresh machine: one pip call, no dev tools, no isolated build env
    session.install(TORCH, "--no-build-isolation", "-e", ".")
    env = {"HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    out = ROOT / "output" / "demo"  # run-file paths resolve against examples/, so give an absolute folder
    session.run("ftcore", "train", "examples/quickstart.toml", "--set", f"output.dir={out}", env=env)
    for question in ("Who are you?", "你是谁？"):  # both held back from the bundled data
        session.run(
            "ftcore", "infer", f"latest:{out}", "--query", question, "--max-new-tokens", "40", "--greedy", env=env
        )
    session.log(f"outputs (checkpoints, loss.png, metrics.jsonl, run.toml): {out}")


@nox.session
def bench(session: nox.Session) -> None:
    """Run the benchmarks (ftcore vs. TRL and a bare torch loop, on the same model and data, in one run)."""
    install_core(session, "dev", "bench")
    for script in sorted((ROOT / "bench").glob("*.py")):
        if script.name.startswith("_"):
            continue
        if session.posargs and script.stem not in session.posargs:
            continue
        session.run("python", str(script), env={"TOKENIZERS_PARALLELISM": "false"})
