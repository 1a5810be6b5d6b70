"""Start-up stays light: listing the catalog, the plugins and validating a run import no torch (nor
transformers / datasets / peft / accelerate), with every installed plugin loaded."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

HEAVY = ("torch", "transformers", "datasets", "peft", "accelerate", "bitsandbytes", "deepspeed")

SCRIPT = textwrap.dedent(
    """
    import contextlib, io, json, sys
    from ftcore.cli import main

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        for argv in (["--version"], ["--help"]):
            try:
                main(argv)
            except SystemExit:
                pass
        after_help = sorted(m for m in {heavy} + ("pydantic", "rich") if m in sys.modules)
        for argv in (
            ["models", "--json"], ["templates", "--json"], ["datasets", "--json"], ["tuners", "--json"], ["tuners"],
            ["models"], ["plugins", "--all", "--json"], ["plugins"], ["validate", sys.argv[1]], ["stages"],
            ["stages", "--json"],
        ):
            assert main(argv) in (0, 2), argv
    print(json.dumps({{"after_help": after_help, "heavy": sorted(m for m in {heavy} if m in sys.modules)}}))
    """
)


def test_listing_the_catalog_imports_no_torch(tmp_path):
    run = tmp_path / "run.toml"
    run.write_text('[model]\nname = "ftcore-tiny-qwen2"\n[data]\ndatasets = ["self-cognition-mini"]\n')
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT.format(heavy=repr(HEAVY)), str(run)],
        capture_output=True,
        text=True,
        check=True,
    )
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["heavy"] == [], f"start-up imported {result['heavy']}"
    # --help and --version do not even import pydantic or rich
    assert result["after_help"] == []


def test_import_ftcore_is_light():
    modules = HEAVY + ("pydantic", "rich")
    code = f"import ftcore, sys; print(sorted(m for m in {modules!r} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
