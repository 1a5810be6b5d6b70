"""The API of ``ftcore ui`` (starlette's TestClient): one test or more per endpoint."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

import pytest

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

FORM = {"model": "ftcore-tiny-qwen2", "datasets": ["self-cognition-mini"], "tuner": "lora", "max_steps": 8,
        "lr": 0.005}


def draft(client: Any, **form: Any) -> str:
    res = client.post("/api/draft", json={**FORM, **form})
    assert res.status_code == 200, res.text
    return res.json()["text"]


def wait_for(job_state: Any, predicate: Any, timeout: float = 20) -> dict[str, Any]:
    end = time.time() + timeout
    while True:
        job = job_state()
        if predicate(job) or time.time() > end:
            return job
        time.sleep(0.1)


def test_page_and_its_script_are_served(client: Any) -> None:
    page = client.get("/")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert '<script src="/static/app.js">' in page.text and "http" not in page.text.split("<body>")[1].replace(
        "http://www.w3.org", ""), "the page loads nothing from the network"
    assert client.get("/static/app.js").status_code == 200
    assert client.get("/static/..%2Fapp.py").status_code in (400, 404)


def test_catalog_lists_models_datasets_and_tuners(client: Any, ui_root: Path) -> None:
    from ftcore.registry import get_catalog

    data = client.get("/api/catalog").json()
    catalog = get_catalog()
    assert [m["name"] for m in data["models"]] == [s.name for s in catalog.models]
    assert "self-cognition-mini" in [d["name"] for d in data["datasets"]]
    assert [t["name"] for t in data["tuners"]] == [s.name for s in catalog.tuners]
    assert data["root"] == str(ui_root.resolve())


def test_draft_is_a_run_toml_of_the_form(client: Any) -> None:
    data = tomllib.loads(draft(client, output_dir="runs"))
    assert data["model"] == {"name": "ftcore-tiny-qwen2"}
    assert data["data"]["datasets"] == ["self-cognition-mini"]
    assert data["tuner"]["method"] == "lora"
    assert data["train"]["max_steps"] == 8 and data["train"]["lr"] == 0.005
    assert data["output"]["dir"] == "runs"


def test_validate_gives_ftcore_validates_messages(client: Any, ui_root: Path, monkeypatch: Any,
                                                  capsys: Any) -> None:
    from ftcore.cli import main

    good = draft(client)
    assert client.post("/api/validate", json={"path": "run.toml", "text": good}).json() == {"ok": True, "problems": []}
    bad = good.replace('method = "lora"', 'method = "lorra"').replace("max_steps = 8", "max_steps = -5")
    bad = bad.replace('"self-cognition-mini"', '"missing.jsonl"')
    res = client.post("/api/validate", json={"path": "run.toml", "text": bad}).json()
    assert res["ok"] is False and len(res["problems"]) == 3
    (ui_root / "run.toml").write_text(bad, encoding="utf-8")
    monkeypatch.chdir(ui_root)
    assert main(["validate", "run.toml"]) == 2
    expected = [line.removeprefix("error: ") for line in capsys.readouterr().err.splitlines()]
    assert res["problems"] == expected
    assert not [p for p in ui_root.iterdir() if p.name.startswith(".ftcore-ui-")], "the draft file is removed"
    broken = client.post("/api/validate", json={"path": "run.toml", "text": "[model"}).json()
    assert broken["problems"][0].startswith("run.toml: not valid TOML")


def test_paths_outside_the_folder_are_refused(client: Any) -> None:
    res = client.post("/api/validate", json={"path": "../elsewhere.toml", "text": "x = 1"})
    assert res.status_code == 400 and "not inside the UI's folder" in res.json()["error"]
    assert client.get("/api/metrics", params={"run": "/etc"}).status_code == 400
    res = client.post("/api/chat", json={"checkpoint": "../x", "messages": [{"role": "user", "content": "hi"}]})
    assert res.status_code == 400


def test_a_job_runs_to_the_end_and_its_run_is_listed(client: Any, ui_root: Path, monkeypatch: Any) -> None:
    monkeypatch.setenv("FAKE_STEPS", "6")
    res = client.post("/api/jobs", json={"path": "run.toml", "text": draft(client)})
    assert res.status_code == 200, res.text
    job = res.json()
    assert job["state"] == "running" and job["config"] == "run.toml"
    assert (ui_root / "run.toml").read_text() == draft(client), "the run file is written as edited"
    done = wait_for(lambda: client.get(f"/api/jobs/{job['id']}").json(), lambda j: j["state"] != "running")
    assert done["state"] == "finished" and done["returncode"] == 0
    assert done["run"] == "output/tiny/v0-20261130-120000"
    assert (done["step"], done["total"]) == (6, 6)
    assert "train: 6/6" in done["log"]
    assert [j["id"] for j in client.get("/api/jobs").json()] == [job["id"]]
    runs = client.get("/api/runs").json()
    assert [r["path"] for r in runs] == [done["run"]]
    assert runs[0]["checkpoints"] == [f"{done['run']}/checkpoint-6"] and runs[0]["running"] is False
    assert runs[0]["result"] == {"metrics": {"last_loss": 5.0 / 6}}


def test_an_invalid_run_file_does_not_start(client: Any, ui_root: Path) -> None:
    res = client.post("/api/jobs", json={"path": "run.toml", "text": draft(client, tuner="lorra")})
    assert res.status_code == 400
    assert res.json()["problems"][0].startswith("run.toml: tuner.method: unknown tuner 'lorra'")
    assert not (ui_root / "run.toml").exists() and client.get("/api/jobs").json() == []
    assert client.get("/api/jobs/7").status_code == 400
    outside = client.post("/api/jobs", json={"path": "run.toml", "text": draft(client, output_dir="/tmp/away")})
    assert outside.status_code == 400 and "output.dir" in outside.json()["error"]
    assert not (ui_root / "run.toml").exists() and client.get("/api/jobs").json() == []


def test_stop_sends_sigterm_and_the_run_saves_a_checkpoint(client: Any, ui_root: Path) -> None:
    job = client.post("/api/jobs", json={"path": "run.toml", "text": draft(client)}).json()
    running = wait_for(lambda: client.get(f"/api/jobs/{job['id']}").json(), lambda j: j["step"] >= 3)
    assert running["state"] == "running" and running["run"]
    assert client.get("/api/runs").json()[0]["running"] is True
    assert client.post(f"/api/jobs/{job['id']}/stop").json()["state"] in ("stopping", "stopped")
    done = wait_for(lambda: client.get(f"/api/jobs/{job['id']}").json(), lambda j: j["state"] != "stopping")
    assert done["state"] == "stopped" and done["returncode"] == 143
    assert "checkpoint saved" in done["log"]
    run = client.get("/api/runs").json()[0]
    assert run["running"] is False and len(run["checkpoints"]) == 1


def test_a_second_stop_kills(client: Any, monkeypatch: Any) -> None:
    monkeypatch.setenv("FAKE_IGNORE_TERM", "1")  # a run that does not react to SIGTERM
    job = client.post("/api/jobs", json={"path": "run.toml", "text": draft(client)}).json()
    wait_for(lambda: client.get(f"/api/jobs/{job['id']}").json(), lambda j: j["step"] >= 1)
    stopping = client.post(f"/api/jobs/{job['id']}/stop").json()
    assert stopping["state"] == "stopping"
    # the run ignores SIGTERM: it goes on logging steps, and the job stays "stopping" until the second stop
    later = wait_for(lambda: client.get(f"/api/jobs/{job['id']}").json(),
                     lambda j: j["step"] >= stopping["step"] + 5)
    assert later["step"] >= stopping["step"] + 5 and later["state"] == "stopping"
    client.post(f"/api/jobs/{job['id']}/stop")
    done = wait_for(lambda: client.get(f"/api/jobs/{job['id']}").json(), lambda j: j["state"] != "stopping")
    assert done["state"] == "stopped" and done["returncode"] == -9


def test_closing_the_app_stops_its_runs(ui_root: Path, fake_python: str) -> None:
    from starlette.testclient import TestClient

    from ftcore.ui.app import create_app

    app = create_app(ui_root, python=fake_python)
    with TestClient(app) as client:
        job = client.post("/api/jobs", json={"path": "run.toml", "text": draft(client)}).json()
        wait_for(lambda: client.get(f"/api/jobs/{job['id']}").json(), lambda j: j["step"] >= 1)
    process = app.state.jobs.get(job["id"]).process
    assert process.returncode == 143, "SIGTERM at shutdown: the run saved a checkpoint and stopped"
    assert list((ui_root / "output" / "tiny" / "v0-20261130-120000").glob("checkpoint-*"))


def test_metrics_come_in_increments(client: Any, ui_root: Path) -> None:
    run = ui_root / "output" / "m" / "v0-1"
    run.mkdir(parents=True)
    (run / "run.toml").write_text("")
    lines = [json.dumps({"step": s, "loss": 1.0 / s}) for s in (1, 2, 3)]
    (run / "metrics.jsonl").write_text("\n".join(lines[:2]) + "\n" + lines[2][:5])  # the third is half-written
    first = client.get("/api/metrics", params={"run": "output/m/v0-1"}).json()
    assert [r["step"] for r in first["records"]] == [1, 2] and first["next"] == 2
    (run / "metrics.jsonl").write_text("\n".join(lines) + "\n")
    more = client.get("/api/metrics", params={"run": "output/m/v0-1", "since": first["next"]}).json()
    assert [r["step"] for r in more["records"]] == [3] and more["next"] == 3
    assert client.get("/api/metrics", params={"run": "output/none"}).json() == {"records": [], "next": 0}


def _events(body: str) -> list[dict[str, Any]]:
    return [json.loads(line[len("data: "):]) for line in body.split("\n\n") if line.startswith("data: ")]


@pytest.mark.slow
def test_chat_streams_the_checkpoints_answer(lora_run: Path, fake_python: str) -> None:
    from starlette.testclient import TestClient

    from ftcore.inference import inference, load_checkpoint
    from ftcore.ui.app import create_app

    ckpt = "output/tiny/v0-20261128-101500/checkpoint-2"
    client = TestClient(create_app(lora_run, python=fake_python))
    runs = client.get("/api/runs").json()
    assert runs[0]["checkpoints"] == [ckpt] and runs[0]["best"] == "checkpoint-2"
    messages = [{"role": "user", "content": "who are you?"}]
    with client.stream("POST", "/api/chat", json={"checkpoint": ckpt, "messages": messages,
                                                  "max_new_tokens": 12}) as res:
        assert res.status_code == 200 and res.headers["content-type"].startswith("text/event-stream")
        events = _events(res.read().decode())
    deltas = [e["delta"] for e in events if "delta" in e]
    assert events[0] == {"loaded": str(lora_run / ckpt)} and events[-1]["done"] is True
    model, _tok, template, _cfg = load_checkpoint(lora_run / ckpt)
    alone = inference(model, template, "who are you?", max_new_tokens=12, do_sample=False)
    assert "".join(deltas) == events[-1]["text"] == alone and alone
    # multi-turn with a system prompt: the history reaches the prompt
    turns = [{"role": "system", "content": "be brief"}, *messages, {"role": "assistant", "content": alone},
             {"role": "user", "content": "and then?"}]
    events = _events(client.post("/api/chat", json={"checkpoint": ckpt, "messages": turns,
                                                     "max_new_tokens": 6}).text)
    expected = inference(model, template, "and then?", [("who are you?", alone)], "be brief",
                         max_new_tokens=6, do_sample=False)
    assert events[-1] == {"done": True, "text": expected}
    # errors are one event, not a broken stream
    gone = _events(client.post("/api/chat", json={"checkpoint": "output/none", "messages": messages}).text)
    assert list(gone[0]) == ["error"] and "output/none" in gone[0]["error"]
    assistant_last = _events(client.post("/api/chat", json={"checkpoint": ckpt, "messages": turns[:3]}).text)
    assert assistant_last == [{"error": "chat: the last message must be the user's"}]
