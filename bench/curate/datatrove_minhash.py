"""datatrove's MinHash dedup (signatures, buckets, clusters, filter) on corpus.jsonl, with the
thresholds Crucible uses: 5-gram shingles, 25 buckets of 10 hashes (250 of 256), one task and
one worker per stage so the time is per core. Prints the wall time of each stage as JSON."""
import json
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


def run(name, pipeline):
    start = time.perf_counter()
    LocalPipelineExecutor(pipeline=pipeline, tasks=1, workers=1, logging_dir=f"{work}/logs/{name}").run()
    return time.perf_counter() - start


times = {}
times["signatures"] = run("signatures", [reader(), MinhashDedupSignature(output_folder=f"{work}/sigs", config=config)])
times["buckets"] = run("buckets", [MinhashDedupBuckets(input_folder=f"{work}/sigs", output_folder=f"{work}/buckets", config=config)])
times["clusters"] = run("clusters", [MinhashDedupCluster(input_folder=f"{work}/buckets", output_folder=f"{work}/remove_ids", config=config)])
times["filter"] = run(
    "filter",
    [reader(), MinhashDedupFilter(input_folder=f"{work}/remove_ids"), JsonlWriter(f"{work}/output", compression=None)],
)
print(json.dumps(times))
