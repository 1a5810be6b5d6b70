"""Read each tracker's local store back: the scalar series it holds (named as metrics.jsonl names them) and the run
config it holds. Each reader uses the tracker's own files, not ftcore's."""

from __future__ import annotations

import json
import struct
from collections import defaultdict
from pathlib import Path
from typing import Any

Series = dict[str, dict[int, float]]

#: keys a tracker adds for its own bookkeeping
BOOKKEEPING = {"train/global_step", "_step", "_runtime", "_timestamp", "global_step"}


def jsonl_name(key: str) -> str:
    """transformers' rewrite_logs, undone: ``eval/loss`` → ``eval_loss``, ``train/loss`` → ``loss``."""
    for prefix in ("eval/", "test/"):
        if key.startswith(prefix):
            return prefix[:-1] + "_" + key[len(prefix):]
    return key.removeprefix("train/")


def expected_series(records: list[dict[str, Any]]) -> Series:
    """metrics.jsonl as series: every numeric key but ``step``, by step."""
    out: Series = defaultdict(dict)
    for record in records:
        for key, value in record.items():
            if key != "step" and isinstance(value, (int, float)) and not isinstance(value, bool):
                out[key][int(record["step"])] = float(value)
    return dict(out)


def leveldb_records(path: Path) -> list[bytes]:
    """The records of a LevelDB-log file with a 7-byte header (wandb's ``.wandb``, swanlab's ``.swanlab``)."""
    data = path.read_bytes()
    block = 32 * 1024
    pos, out, pending = 7, [], b""
    while pos + 7 <= len(data):
        left = block - pos % block
        if left < 7:
            pos += left
            continue
        length, kind = struct.unpack("<HB", data[pos + 4:pos + 7])
        chunk = data[pos + 7:pos + 7 + length]
        pos += 7 + length
        if kind == 0 and length == 0:
            continue
        if kind == 1:
            out.append(chunk)
        elif kind == 2:
            pending = chunk
        elif kind == 3:
            pending += chunk
        elif kind == 4:
            out.append(pending + chunk)
    return out


# ------------------------------------------------------------------------------------------------------- wandb


def wandb_store(run_dir: Path) -> tuple[Series, dict[str, Any], dict[str, Any]]:
    """(series by train/global_step, config, summary) of the offline run under ``run_dir/wandb``."""
    from wandb.proto import wandb_internal_pb2

    (file,) = sorted(run_dir.glob("wandb/offline-run-*/run-*.wandb"))
    series: Series = defaultdict(dict)
    config: dict[str, Any] = {}
    summary: dict[str, Any] = {}
    for raw in leveldb_records(file):
        record = wandb_internal_pb2.Record()
        record.ParseFromString(raw)
        kind = record.WhichOneof("record_type")
        if kind == "history":
            items = {item.key or "/".join(item.nested_key): json.loads(item.value_json) for item in record.history.item}
            step = int(items["train/global_step"])
            for key, value in items.items():
                if key not in BOOKKEEPING and isinstance(value, (int, float)):
                    series[jsonl_name(key)][step] = float(value)
        elif kind == "config":
            for item in record.config.update:
                config[item.key or "/".join(item.nested_key)] = json.loads(item.value_json)
        elif kind == "summary":
            for item in record.summary.update:
                summary[item.key or "/".join(item.nested_key)] = json.loads(item.value_json)
    return dict(series), config, summary


# ------------------------------------------------------------------------------------------------------ mlflow


def mlflow_store(run_dir: Path) -> tuple[Series, dict[str, str], dict[str, Any]]:
    """(series, params, the ftcore_run.json artifact) of the one run in ``run_dir/mlruns``."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=(run_dir / "mlruns").resolve().as_uri())
    (experiment,) = [e for e in client.search_experiments() if e.name == "ftcore"]
    (run,) = client.search_runs([experiment.experiment_id])
    series: Series = {}
    for key in run.data.metrics:
        series[key] = {m.step: float(m.value) for m in client.get_metric_history(run.info.run_id, key)}
    artifact = Path(client.download_artifacts(run.info.run_id, "ftcore_run.json", str(run_dir / "mlflow-read")))
    return series, dict(run.data.params), json.loads(artifact.read_text())


# ----------------------------------------------------------------------------------------------------- swanlab


def swanlab_store(run_dir: Path) -> tuple[Series, dict[str, Any]]:
    """(series, config.yaml) of the one offline run under ``run_dir/swanlog``."""
    import yaml
    from swanlab.proto.swanlab.record.v1 import record_pb2

    (folder,) = sorted((run_dir / "swanlog").glob("run-*"))
    series: Series = defaultdict(dict)
    for raw in leveldb_records(next(folder.glob("*.swanlab"))):
        record = record_pb2.Record()
        record.ParseFromString(raw)
        if (record.WhichOneof("record_type") == "scalar" and record.scalar.key not in BOOKKEEPING
                and not record.scalar.key.startswith("__swanlab__")):  # swanlab's own CPU / memory probes
            key = record.scalar.key
            name = key.removeprefix("single_value/") if key.startswith("single_value/") else jsonl_name(key)
            series[name][int(record.scalar.step)] = float(record.scalar.value.number)
    config = yaml.safe_load((folder / "files" / "config.yaml").read_text())
    return dict(series), {k: v.get("value") if isinstance(v, dict) else v for k, v in config.items()}


# ----------------------------------------------------------------------------------------------------- trackio


def trackio_store(run_dir: Path) -> tuple[Series, dict[str, Any]]:
    """(series by train/global_step, config) of the project "ftcore" in ``run_dir/trackio`` (trackio's SQLite
    file)."""
    import sqlite3

    (db,) = sorted((run_dir / "trackio").glob("*.db"))
    con = sqlite3.connect(db)
    try:
        series: Series = defaultdict(dict)
        for (metrics,) in con.execute("select metrics from metrics"):
            items = json.loads(metrics)
            step = int(items["train/global_step"])  # trackio's own step counts log calls
            for key, value in items.items():
                if key not in BOOKKEEPING and isinstance(value, (int, float)):
                    series[jsonl_name(key)][step] = float(value)
        (config_text,) = con.execute("select config from configs").fetchone()
    finally:
        con.close()
    return dict(series), json.loads(config_text)


# --------------------------------------------------------------------------------------------------------- aim


def aim_store(run_dir: Path) -> tuple[Series, dict[str, Any]]:
    """(series, the run's ``ftcore`` parameter) of the one run in the Aim repository ``run_dir/.aim``."""
    from aim import Repo
    from aim.sdk.index_manager import RepoIndexManager

    repo = Repo(str(run_dir))
    try:
        indexer = RepoIndexManager.get_index_manager(repo)  # what `aim up` does before it shows a finished run
        for run_hash in repo.list_all_runs():
            indexer.index(run_hash)
        (run,) = list(repo.iter_runs())
        series: Series = {}
        for metric in run.metrics():
            if metric.name.startswith("__system__"):  # Aim's own CPU / memory tracking
                continue
            subset = metric.context.to_dict().get("subset")
            name = f"{subset}_{metric.name}" if subset else metric.name
            steps, (values, *_) = metric.data.numpy()  # steps, (values, epochs, timestamps)
            series[name] = {int(s): float(v) for s, v in zip(steps, values, strict=True)}
        return series, run.get("ftcore") or {}
    finally:
        repo.close()


# ------------------------------------------------------------------------------------------------- tensorboard


def tensorboard_store(run_dir: Path) -> tuple[Series, str]:
    """(scalars, the ``ftcore`` text summary) of the event files under ``run_dir/logs``."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(run_dir / "logs"), size_guidance={"scalars": 0, "tensors": 0})
    acc.Reload()
    series: Series = {jsonl_name(tag): {e.step: float(e.value) for e in acc.Scalars(tag)}
                      for tag in acc.Tags()["scalars"]}
    texts = [t for t in acc.Tags()["tensors"] if t.startswith("ftcore")]
    text = acc.Tensors(texts[0])[0].tensor_proto.string_val[0].decode() if texts else ""
    return series, text
