#!/bin/bash
# Curate a corpus on a Slurm cluster: one array job per step, each waiting for the one before
# (afterok), every task one shard. The output directory must be on a file system all nodes
# share. Re-submitting after a failure continues where it stopped: finished items are skipped.
#
#   CORPUS=/shared/corpus OUT=/shared/curated SHARDS=64 examples/curate/slurm.sh
set -euo pipefail

CORPUS=${CORPUS:?set CORPUS to the input directory or files}
OUT=${OUT:?set OUT to the output directory (shared file system)}
SHARDS=${SHARDS:-16}
CRUCIBLE=${CRUCIBLE:-crucible}
CONFIG=${CONFIG:-$(dirname "$0")/curate.toml}

# One step as an array job of N tasks; prints the job id.
step() {
    local name=$1 tasks=$2 dependency=${3:-}
    sbatch --parsable --job-name="curate-$name" --array="0-$((tasks - 1))" \
        --cpus-per-task=2 --mem=4G --time=04:00:00 \
        ${dependency:+--dependency=afterok:$dependency} \
        --wrap="$CRUCIBLE data curate $CORPUS --output $OUT --config $CONFIG \
                --stage $name --shard \$SLURM_ARRAY_TASK_ID/$tasks --threads 2"
}

plan=$(step plan 1)
prepare=$(step prepare "$SHARDS" "$plan")
# 25 bands (+1 exact) x near.partitions items: more tasks than items would idle.
buckets=$(step buckets 26 "$prepare")
clusters=$(step clusters 1 "$buckets")
filter=$(step filter "$SHARDS" "$clusters")
summary=$(step summary 1 "$filter")
echo "submitted: plan $plan, prepare $prepare, buckets $buckets, clusters $clusters, filter $filter, summary $summary"
