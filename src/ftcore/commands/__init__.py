"""One module per ``ftcore`` sub-command; each defines ``add_parser(subparsers)`` and ``run(args)``."""
