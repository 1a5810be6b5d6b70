"""The kit's own tests need it pip-installed: test_planted_failures.py installs it and runs them."""

collect_ignore_glob = ["ftcore-kitllama/*"]
