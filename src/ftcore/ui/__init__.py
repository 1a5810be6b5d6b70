"""``ftcore ui``: a local web page to write a run.toml, train, watch the curves and chat with a checkpoint.

    catalog    the choices of the run form (models, datasets, tuners), the run.toml a form gives, live validation
    jobs       training runs started as subprocesses (``python -m ftcore train FILE``), stopped with SIGTERM
    runs       run folders on disk: metrics.jsonl, checkpoints.json, result.json
    chat       one loaded checkpoint at a time, answers streamed through ftcore.inference
    app        the FastAPI app (``create_app``) serving the page in ``static/`` and the JSON API

The app needs the optional extra ``ftcore[ui]`` (fastapi, uvicorn); only ``app`` imports fastapi.
"""

from __future__ import annotations
