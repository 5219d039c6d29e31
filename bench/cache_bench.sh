#!/usr/bin/env bash
# cache=ram|disk against no cache on full-size radiographs, end to end (`fracture classify train`):
# per-epoch seconds from results.csv, first epoch (decodes) apart from the later ones (cached).
#   bash bench/cache_bench.sh build/fracture [OUT] [COPIES]
# The set: the 23 real FracAtlas radiographs of tests/fixtures (CC BY 4.0), each written COPIES times
# (default 10) as a 2304-px-high JPEG (quality 95; each copy cropped and its contrast changed a
# little, so no two files are equal), in class folders. Python (Pillow) only prepares the files.
set -euo pipefail
BIN=$1
OUT=${2:-/tmp/fracture_cache_bench}
COPIES=${3:-10}
SRC="$(cd "$(dirname "$0")/.." && pwd)/tests/fixtures/fracatlas-sample"
rm -rf "$OUT" && mkdir -p "$OUT"
/usr/bin/python3 - "$SRC" "$OUT/data" "$COPIES" <<'PY'
import os, sys, random
from PIL import Image, ImageEnhance
src, out, copies = sys.argv[1], sys.argv[2], int(sys.argv[3])
rng = random.Random(0)
n = 0
for cls, folder in (("fractured", "fractured"), ("not_fractured", "negatives")):
    d = os.path.join(src, "images", folder)
    os.makedirs(os.path.join(out, cls), exist_ok=True)
    for name in sorted(os.listdir(d)):
        im = Image.open(os.path.join(d, name)).convert("L")
        for k in range(copies):
            w, h = im.size
            c = im.crop((rng.randint(0, w // 20), rng.randint(0, h // 20), w - rng.randint(0, w // 20), h - rng.randint(0, h // 20)))
            s = 2304 / max(c.size)
            c = c.resize((round(c.size[0] * s), round(c.size[1] * s)), Image.BICUBIC)
            c = ImageEnhance.Contrast(c).enhance(rng.uniform(0.9, 1.1))
            c.save(os.path.join(out, cls, f"{name[:-4]}_{k}.jpg"), quality=95)
            n += 1
print(f"wrote {n} JPEGs, 2304 px on the long side, to {out}")
PY
du -sh "$OUT/data"
COMMON="data=$OUT/data model=mobilenet_v3_small epochs=4 imgsz=128 batch=16 workers=2 seed=0 project=$OUT/runs"
for mode in false ram disk; do
  "$BIN" classify train $COMMON cache=$mode name=cache_$mode > "$OUT/$mode.log" 2>&1
done
/usr/bin/python3 - "$OUT/runs/classify" <<'PY'
import csv, sys
rows = {}
for mode in ("false", "ram", "disk"):
    r = list(csv.DictReader(open(f"{sys.argv[1]}/cache_{mode}/results.csv")))
    sec = [float(x["seconds"]) for x in r]
    rows[mode] = (sec[0], sum(sec[1:]) / len(sec[1:]))
base = rows["false"][1]
print("cache   epoch 1 s   later epochs s (mean)   later epochs vs no cache")
for mode, (first, later) in rows.items():
    print(f"{mode:6s}  {first:9.2f}   {later:21.2f}   {base / later:8.2f}x")
PY
# the batches are bit-identical with and without the cache, so the trained weights are too
sha256sum "$OUT"/runs/classify/cache_*/weights/best.safetensors | awk '{print $1}' | uniq | wc -l |
  awk '{print ($1 == 1 ? "weights: identical for cache=false, ram and disk" : "weights DIFFER between cache modes")}'
