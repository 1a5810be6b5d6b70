"""``ftcore ui`` in a real browser: headless Chromium driven by playwright's Python API (the Debian ``chromium``
package as its browser: playwright's own browser download needs the network).

Fill the run form, see a wrong value reported and fixed, start the quick-start training (the tiny model), watch the
loss chart grow, stop the run (SIGTERM: it saves a checkpoint), pick that checkpoint and chat with it. Screenshots go
to ``$FTCORE_UI_SCREENSHOTS`` (docs/images/ holds the ones docs/ui.md shows), else to the test's temporary folder.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

#: where Chromium is looked for (FTCORE_CHROMIUM first)
BROWSERS = ("/usr/bin/chromium", "/usr/bin/chromium-browser", "chromium", "chromium-browser", "google-chrome")
INSTALL_HINT = ("no Chromium found for the browser test of ftcore ui: install it (Debian/Ubuntu: "
                "`apt-get install -y chromium`; .ci/run does this when run as root) or set FTCORE_CHROMIUM to a "
                "Chrome/Chromium executable")


def find_chromium() -> str:
    """The Chromium executable; fails the test (never skips it) when there is none."""
    for candidate in (os.environ.get("FTCORE_CHROMIUM"), *BROWSERS):
        if candidate and (found := shutil.which(candidate)):
            return found
    pytest.fail(INSTALL_HINT, pytrace=False)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def ui_server(tmp_path: Path) -> Any:
    """``ftcore ui`` serving ``tmp_path/work`` on a free localhost port; yields its URL, stops it afterwards."""
    work = tmp_path / "work"
    work.mkdir()
    port = free_port()
    log = (tmp_path / "ui.log").open("wb")
    env = {**os.environ, "TOKENIZERS_PARALLELISM": "false", "HF_HUB_OFFLINE": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "ftcore", "ui", "--port", str(port), "--dir", str(work)],
                            stdout=log, stderr=subprocess.STDOUT, env=env)
    url = f"http://127.0.0.1:{port}/"
    try:
        for _ in range(300):
            if proc.poll() is not None:
                pytest.fail(f"ftcore ui exited: {(tmp_path / 'ui.log').read_text()[-2000:]}")
            try:
                urllib.request.urlopen(url, timeout=1).close()
                break
            except OSError:
                time.sleep(0.1)
        yield url
    finally:
        proc.terminate()  # SIGTERM: uvicorn shuts down and the app stops its training runs
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


def points(page: Any, kind: str = "points") -> int:
    return int(page.get_attribute("#chart", f"data-{kind}") or 0)


@pytest.mark.slow
def test_train_watch_stop_and_chat_in_a_browser(ui_server: str, tmp_path: Path) -> None:
    executable = find_chromium()
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=60_000)
    shots = Path(os.environ.get("FTCORE_UI_SCREENSHOTS") or tmp_path / "screenshots")
    shots.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=executable, headless=True,
                                     args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"])
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.set_default_timeout(60_000)
        page.goto(ui_server)
        page.wait_for_selector("body[data-ready=true]")

        # 1. the run form → run.toml, validated live
        page.select_option("#model", "ftcore-tiny-qwen2")
        page.select_option("#datasets", ["self-cognition-mini"])
        page.select_option("#tuner", "lora")
        page.fill("#max-steps", "400")
        page.fill("#lr", "0.005")
        page.click("#draft-btn")
        expect(page.locator("#problems")).to_have_attribute("data-state", "ok")
        text = page.input_value("#editor")
        assert 'name = "ftcore-tiny-qwen2"' in text and "max_steps = 400" in text
        page.fill("#editor", text.replace('method = "lora"', 'method = "lorra"'))
        expect(page.locator("#problems")).to_have_attribute("data-state", "problems")
        expect(page.locator("#problems li").first).to_contain_text("run.toml: tuner.method: unknown tuner 'lorra'")
        assert page.is_disabled("#start-btn")
        page.locator("#panel-run").screenshot(path=str(shots / "ui-run-file.png"))
        text = (text.replace("logging_steps = 5", "logging_steps = 2").replace("eval_steps = 50", "eval_steps = 6")
                .replace("max_length = 512", "max_length = 128"))
        page.fill("#editor", text)
        expect(page.locator("#problems")).to_have_attribute("data-state", "ok")

        # 2. start the training; the chart grows as metrics.jsonl does
        page.click("#start-btn")
        expect(page.locator("#job-state")).to_contain_text("running")
        page.wait_for_function("Number(document.querySelector('#chart').dataset.points) >= 2", timeout=90_000)
        seen = points(page)
        page.wait_for_function(f"Number(document.querySelector('#chart').dataset.points) > {seen}")
        page.wait_for_function("Number(document.querySelector('#chart').dataset.evals) >= 1")
        assert page.locator("#loss-line").get_attribute("d").count("L") >= seen
        assert int(page.get_attribute("#progress", "value") or 0) > 0
        page.locator("#panel-train").screenshot(path=str(shots / "ui-training.png"))

        # stop: SIGTERM, the run saves a checkpoint and exits
        page.click("#stop-btn")
        expect(page.locator("#job-state")).to_contain_text("stopped (exit 143)")
        expect(page.locator("#runs tr")).to_have_count(1)
        expect(page.locator("#runs")).to_contain_text("checkpoint-")

        # 3 + 4. pick the checkpoint in the runs panel and chat with it
        page.locator("#runs button", has_text="chat").click()
        assert "checkpoint-" in page.input_value("#chat-ckpt")
        page.fill("#chat-max", "24")
        page.fill("#chat-input", "Who are you?")
        page.press("#chat-input", "Enter")
        answer = page.locator("#chat-log .msg").nth(1)
        expect(answer).to_have_attribute("data-done", "true")
        assert "error" not in (answer.get_attribute("class") or ""), answer.inner_text()
        assert answer.inner_text().strip(), "the checkpoint answered"
        expect(page.locator("#chat-status")).to_contain_text("answering with")
        page.screenshot(path=str(shots / "ui-overview.png"), full_page=True)
        page.locator("#panel-chat").screenshot(path=str(shots / "ui-chat.png"))
        page.reload()  # a reloaded page shows the newest job again, its curve included
        page.wait_for_selector("body[data-ready=true]")
        expect(page.locator("#job-state")).to_contain_text("stopped (exit 143)")
        page.wait_for_function(f"Number(document.querySelector('#chart').dataset.points) > {seen}")
        browser.close()
    assert sorted(p.name for p in shots.glob("ui-*.png")) == ["ui-chat.png", "ui-overview.png", "ui-run-file.png",
                                                             "ui-training.png"]


def test_no_browser_fails_with_the_install_command(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FTCORE_CHROMIUM", raising=False)
    monkeypatch.setattr(shutil, "which", lambda name: None)
    with pytest.raises(pytest.fail.Exception, match="apt-get install -y chromium"):
        find_chromium()
    monkeypatch.setenv("FTCORE_CHROMIUM", "/opt/chrome/chrome")
    monkeypatch.setattr(shutil, "which", lambda name: name if name == "/opt/chrome/chrome" else None)
    assert find_chromium() == "/opt/chrome/chrome"
