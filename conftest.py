"""Test-wide guards for the core's and the plugins' tests: ftcore's own pytest plugin.

``ftcore.testing.pytest_plugin`` (installed with ftcore as a ``pytest11`` entry point, so every plugin's test suite
gets it too) registers the ``slow`` marker, refuses network connections to anything but loopback, points the hub
caches into a per-session temporary folder, and provides the ``qwen25_tokenizer`` / ``tiny_model_dir`` /
``ftcore_cli`` fixtures. Naming it here keeps this repository's tests guarded when ftcore runs from a source tree
whose entry points are not installed (pytest skips it when the entry point already loaded it).
"""

pytest_plugins = ["ftcore.testing.pytest_plugin"]
