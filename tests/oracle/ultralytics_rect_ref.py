"""Reference for fracture's rectangular validation geometry, following Ultralytics 8.1.0's source
step by step: ultralytics/data/base.py BaseDataset.set_rectangle (batch shapes) and load_image
(long-side resize sizes), ultralytics/data/augment.py LetterBox.__call__ with auto=False,
scaleup=False, center=True (the padding of an image already resized by load_image), and the
predictor's LetterBox(auto=True, stride) on the original image ("predict", per input size). numpy does
what numpy does there; sizes are distinct aspect ratios, so argsort's tie order does not matter.

usage: ultralytics_rect_ref.py IN.json OUT.json
IN:  {"sizes": [[w, h], ...], "batch": int, "imgsz": int, "stride": int, "pad": float}
OUT: {"order": [...], "shapes": [[w, h] per position], "resized": [[w, h] per position],
      "left_top": [[left, top] per position],
      "predict": [[out_w, out_h, new_w, new_h, left, top] per input size]}
"""
import json
import math
import sys

import numpy as np


def main():
    d = json.load(open(sys.argv[1]))
    imgsz, stride, pad, batch = d["imgsz"], d["stride"], d["pad"], d["batch"]
    s = np.array([[h, w] for w, h in d["sizes"]])  # labels' "shape" is (h, w)
    ni = len(s)
    # set_rectangle
    bi = np.floor(np.arange(ni) / batch).astype(int)
    nb = bi[-1] + 1
    ar = s[:, 0] / s[:, 1]
    irect = ar.argsort()
    ar = ar[irect]
    shapes = [[1, 1]] * nb
    for i in range(nb):
        ari = ar[bi == i]
        mini, maxi = ari.min(), ari.max()
        if maxi < 1:
            shapes[i] = [maxi, 1]
        elif mini > 1:
            shapes[i] = [1, 1 / mini]
    batch_shapes = np.ceil(np.array(shapes) * imgsz / stride + pad).astype(int) * stride  # (h, w)
    out = {"order": irect.tolist(), "shapes": [], "resized": [], "left_top": []}
    for k, i in enumerate(irect):
        h0, w0 = s[i]
        # load_image (rect_mode): resize the long side to imgsz
        r = imgsz / max(h0, w0)
        w, h = (min(math.ceil(w0 * r), imgsz), min(math.ceil(h0 * r), imgsz)) if r != 1 else (w0, h0)
        # LetterBox(new_shape=rect_shape, auto=False, scaleup=False, center=True)
        new_shape = batch_shapes[bi[k]]
        rr = min(min(new_shape[0] / h, new_shape[1] / w), 1.0)
        new_unpad = int(round(w * rr)), int(round(h * rr))
        dw, dh = (new_shape[1] - new_unpad[0]) / 2, (new_shape[0] - new_unpad[1]) / 2
        top, left = int(round(dh - 0.1)), int(round(dw - 0.1))
        out["shapes"].append([int(new_shape[1]), int(new_shape[0])])
        out["resized"].append([int(new_unpad[0]), int(new_unpad[1])])
        out["left_top"].append([left, top])
    # The predictor: LetterBox(new_shape=(imgsz, imgsz), auto=True, stride) on the original image.
    out["predict"] = []
    for w0, h0 in d["sizes"]:
        r = min(imgsz / h0, imgsz / w0)  # scaleup=True
        new_unpad = int(round(w0 * r)), int(round(h0 * r))
        dw, dh = imgsz - new_unpad[0], imgsz - new_unpad[1]
        dw, dh = np.mod(dw, stride), np.mod(dh, stride)
        dw, dh = dw / 2, dh / 2
        top, bottom = int(round(dh - 0.1)), int(round(dh + 0.1))
        left, right = int(round(dw - 0.1)), int(round(dw + 0.1))
        out["predict"].append([new_unpad[0] + left + right, new_unpad[1] + top + bottom, new_unpad[0], new_unpad[1],
                               left, top])
    json.dump(out, open(sys.argv[2], "w"))


if __name__ == "__main__":
    main()
