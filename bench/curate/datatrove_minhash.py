"""datatrove's MinHash dedup (signatures, buckets, clusters, filter) on a JSON Lines corpus, with
the thresholds Crucible uses: 5-gram shingles, 25 buckets of 10 hashes (250 of 256). One worker
per stage, in this process (the buckets stage needs one task per bucket; they run one after
another), so CPU time is per core. Prints, as JSON, each stage's wall time, CPU time (user + sys
of this process and its children) and the peak RSS so far, and the ids the filter removed.

usage: datatrove_minhash.py CORPUS.jsonl WORKDIR"""
import json
import resource
import sys
import time

from datatrove.executor.local import LocalPipelineExecutor
from datatrove.pipeline.dedup import (
    MinhashDedupBuckets,
    MinhashDedupCluster,
    MinhashDedupFilter,
    MinhashDedupSignature,
)
from datatrove.pipeline.dedup.minhash import MinhashConfig
from datatrove.pipeline.readers import JsonlReader
from datatrove.pipeline.writers.jsonl import JsonlWriter

corpus, work = sys.argv[1], sys.argv[2]
config = MinhashConfig(n_grams=5, num_buckets=25, hashes_per_bucket=10)


def reader():
    return JsonlReader(corpus, text_key="content", id_key="id", compression=None)


def cpu():
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def run(name, pipeline, tasks=1):
    wall, used = time.perf_counter(), cpu()
    LocalPipelineExecutor(
        pipeline=pipeline, tasks=tasks, workers=1, logging_dir=f"{work}/logs/{name}"
    ).run()
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {
        "wall_s": time.perf_counter() - wall,
        "cpu_s": cpu() - used,
        "peak_rss_mb": peak_kib / 1024,
    }


stages = {}
stages["signatures"] = run(
    "signatures", [reader(), MinhashDedupSignature(output_folder=f"{work}/sigs", config=config)]
)
stages["buckets"] = run(
    "buckets",
    [MinhashDedupBuckets(input_folder=f"{work}/sigs", output_folder=f"{work}/buckets", config=config)],
    tasks=config.num_buckets,
)
stages["clusters"] = run(
    "clusters",
    [MinhashDedupCluster(input_folder=f"{work}/buckets", output_folder=f"{work}/remove_ids", config=config)],
)
stages["filter"] = run(
    "filter",
    [
        reader(),
        MinhashDedupFilter(
            input_folder=f"{work}/remove_ids",
            exclusion_writer=JsonlWriter(f"{work}/removed", compression=None),
        ),
        JsonlWriter(f"{work}/output", compression=None),
    ],
)
print(json.dumps({"tool": "datatrove", "stages": stages}))
