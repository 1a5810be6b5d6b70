#!/bin/bash
# torchrun elastic: run this same command on 2 to 4 machines; training begins once 2 have joined. When a machine
# leaves or joins, torchrun restarts every worker, and resume_from_checkpoint = "auto" picks up the newest checkpoint
# (a fresh start when there is none yet). output.dir must be on a filesystem every machine sees.
#   RDZV_HOST=10.0.0.1 bash examples/scaling/elastic.sh
set -euo pipefail

torchrun \
    --nnodes 2:4 \
    --nproc-per-node 8 \
    --max-restarts 3 \
    --rdzv-backend c10d \
    --rdzv-endpoint "${RDZV_HOST:?address of a machine that hosts the rendezvous}:29400" \
    --rdzv-id ftcore-elastic \
    -m ftcore train examples/scaling/full_fsdp.toml --set train.resume_from_checkpoint=auto
