"""``python -m ftcore`` (and ``torchrun -m ftcore train run.toml``) run the CLI."""

from ftcore.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
