"""Write the text files under ROOT as JSON Lines ({"id", "content"}), sorted by path, leaving
out what Crucible's walker skips (hidden, symlinks, over 1 MiB, empty, binary, not UTF-8)."""
import json
import os
import sys

root, out = sys.argv[1], sys.argv[2]
n = size = 0
with open(out, "w") as f:
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            if name.startswith("."):
                continue
            path = os.path.join(dirpath, name)
            try:
                if os.path.islink(path) or os.path.getsize(path) > (1 << 20):
                    continue
                raw = open(path, "rb").read()
            except OSError:
                continue
            if not raw.strip() or b"\0" in raw[:8000]:
                continue
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError:
                continue
            f.write(json.dumps({"id": os.path.relpath(path, root), "content": text}) + "\n")
            n += 1
            size += len(raw)
print(f"{n} documents, {size / 1e6:.1f} MB of text -> {out}", file=sys.stderr)
