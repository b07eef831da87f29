#!/bin/bash
# Build the offline curation corpus under bench/curate/cache (not committed):
#   corpus/cargo    every crate source in the local cargo registry (~/.cargo/registry/src)
#   corpus/python   this Python's standard library and site-packages
#   corpus/sdists   sdists of popular PyPI packages (pip download --no-binary PKG --no-deps),
#                   unpacked; several ship vendored copies of each other (real near duplicates)
# and corpus.jsonl, the same files as JSON Lines ({"id", "content"}) for the Python tools,
# with the files the walker skips (binary, undecodable, over 1 MiB, empty) left out.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cache=$here/cache
mkdir -p "$cache/corpus" "$cache/sdist-archives"

if [ ! -e "$cache/corpus/cargo" ]; then
    cp -r "${CARGO_HOME:-$HOME/.cargo}/registry/src" "$cache/corpus/cargo"
fi
if [ ! -e "$cache/corpus/python" ]; then
    stdlib=$(python3 -c 'import sysconfig; print(sysconfig.get_paths()["stdlib"])')
    mkdir -p "$cache/corpus/python"
    cp -r "$stdlib" "$cache/corpus/python/stdlib"
fi
if [ ! -e "$cache/corpus/sdists" ]; then
    # Popular packages with source distributions; versions are whatever the index serves
    # today, recorded in sdists.txt.
    packages="requests urllib3 idna certifi charset-normalizer six python-dateutil pytz pyyaml
        click jinja2 markupsafe werkzeug flask attrs packaging pyparsing setuptools wheel pip
        numpy pandas scipy sympy networkx pillow lxml sqlalchemy django tornado
        aiohttp yarl multidict frozenlist pydantic typing-extensions cryptography cffi pycparser
        pytest pluggy iniconfig coverage tox virtualenv filelock platformdirs rich pygments
        docutils sphinx babel tqdm boto3 botocore s3transfer jmespath protobuf grpcio"
    for p in $packages; do
        timeout 300 python3 -m pip download --quiet --no-binary "$p" --no-deps \
            -d "$cache/sdist-archives" "$p" || echo "skipped $p (no sdist)" >&2
    done
    mkdir -p "$cache/corpus/sdists"
    for a in "$cache"/sdist-archives/*; do
        case $a in
            *.tar.gz|*.tgz) tar -xzf "$a" -C "$cache/corpus/sdists" ;;
            *.zip) python3 -m zipfile -e "$a" "$cache/corpus/sdists" ;;
        esac
    done
    ls "$cache/sdist-archives" > "$cache/sdists.txt"
fi

# The JSON Lines copy: the files the walker would read, in its order.
python3 "$here/to_jsonl.py" "$cache/corpus" "$cache/corpus.jsonl"
du -sh "$cache/corpus"/* "$cache/corpus.jsonl"
