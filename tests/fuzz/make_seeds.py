#!/usr/bin/env python3
"""Writes the fuzz targets' seed corpora (tests/fuzz/corpus/<target>/seed_*), from real files and
from independent writers: DICOM by hand (the Part 10 layout written byte by byte here) and by DCMTK's
own tools (transfer syntaxes, RLE, JPEG, PNG/BMP/TIFF export), torch.save for checkpoints, the
FracAtlas sample radiographs and labels in tests/fixtures. Run once; the corpora are committed.

    python3 tests/fuzz/make_seeds.py          # needs dcmtk (DCMTK's tools) and python3-torch
"""
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CORPUS = os.path.join(ROOT, "tests", "fuzz", "corpus")
FIX = os.path.join(ROOT, "tests", "fixtures", "fracatlas-sample")
TMP = tempfile.mkdtemp()


def put(target, name, data):
    d = os.path.join(CORPUS, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "seed_" + name), "wb") as f:
        f.write(data.encode() if isinstance(data, str) else data)


def run(*cmd):
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def read(p):
    with open(p, "rb") as f:
        return f.read()


# --- DICOM, Explicit VR Little Endian, written element by element (PS3.5 7.1.2, PS3.10 7.1) ------
LONG_VR = {b"OB", b"OW", b"OF", b"SQ", b"UT", b"UN"}


def elem(group, element, vr, value):
    if isinstance(value, str):
        value = value.encode()
        if len(value) % 2:
            value += b"\0" if vr == b"UI" else b" "
    head = struct.pack("<HH", group, element) + vr
    if vr in LONG_VR:
        return head + b"\0\0" + struct.pack("<I", len(value)) + value
    return head + struct.pack("<H", len(value)) + value


def us(v):
    return struct.pack("<H", v)


def dicom(rows, cols, bits, stored, signed, photometric, pixels, frames=1, extra=()):
    sop = "2.25.%d" % (rows * 1000 + cols * 10 + bits)
    meta_body = (elem(2, 1, b"OB", b"\0\1") + elem(2, 2, b"UI", "1.2.840.10008.5.1.4.1.1.1.1") +
                 elem(2, 3, b"UI", sop) + elem(2, 0x10, b"UI", "1.2.840.10008.1.2.1") +
                 elem(2, 0x12, b"UI", "1.2.826.0.1.3680043.2.1143"))
    meta = elem(2, 0, b"UL", struct.pack("<I", len(meta_body))) + meta_body
    ds = [elem(8, 0x16, b"UI", "1.2.840.10008.5.1.4.1.1.1.1"), elem(8, 0x18, b"UI", sop),
          elem(8, 0x60, b"CS", "DX"), elem(0x10, 0x10, b"PN", "Doe^Jane"), elem(0x10, 0x20, b"LO", "P-0001"),
          elem(0x20, 0x0D, b"UI", "2.25.11"), elem(0x20, 0x0E, b"UI", "2.25.12"),
          elem(0x28, 2, b"US", us(1)), elem(0x28, 4, b"CS", photometric)]
    if frames > 1:
        ds.append(elem(0x28, 8, b"IS", str(frames)))
    ds += [elem(0x28, 0x10, b"US", us(rows)), elem(0x28, 0x11, b"US", us(cols)),
           elem(0x28, 0x100, b"US", us(bits)), elem(0x28, 0x101, b"US", us(stored)),
           elem(0x28, 0x102, b"US", us(stored - 1)), elem(0x28, 0x103, b"US", us(1 if signed else 0))]
    ds += list(extra)
    ds.append(elem(0x7FE0, 0x10, b"OW" if bits == 16 else b"OB", pixels))
    return b"\0" * 128 + b"DICM" + meta + b"".join(ds)


def ramp(n, bits, signed):
    if bits == 8:
        return bytes((i * 7) % 256 for i in range(n))
    fmt = "<%dh" % n if signed else "<%dH" % n
    vals = [((i * 97) % 4096) - (2048 if signed else 0) for i in range(n)]
    return struct.pack(fmt, *vals)


def dicom_seeds():
    win = (elem(0x28, 0x1050, b"DS", "1024"), elem(0x28, 0x1051, b"DS", "2048"),
           elem(0x28, 0x1052, b"DS", "-1024"), elem(0x28, 0x1053, b"DS", "1"))
    files = {
        "mono2_8bit.dcm": dicom(16, 16, 8, 8, False, "MONOCHROME2", ramp(256, 8, False)),
        "mono2_16bit_window.dcm": dicom(16, 16, 16, 12, False, "MONOCHROME2", ramp(256, 16, False), extra=win),
        "mono1_16bit.dcm": dicom(16, 16, 16, 12, False, "MONOCHROME1", ramp(256, 16, False)),
        "signed_16bit.dcm": dicom(16, 16, 16, 16, True, "MONOCHROME2", ramp(256, 16, True)),
        "multiframe.dcm": dicom(8, 8, 16, 12, False, "MONOCHROME2", ramp(128, 16, False), frames=2),
    }
    out = {}
    for name, data in files.items():
        p = os.path.join(TMP, name)
        with open(p, "wb") as f:
            f.write(data)
        out[name] = data
    src = os.path.join(TMP, "mono2_16bit_window.dcm")
    for flag, name in (("+ti", "implicit"), ("+tb", "big_endian"), ("+td", "deflated")):
        q = os.path.join(TMP, name + ".dcm")
        run("dcmconv", flag, src, q)
        out[name + ".dcm"] = read(q)
    q = os.path.join(TMP, "rle.dcm")
    run("dcmcrle", src, q)
    out["rle.dcm"] = read(q)
    q = os.path.join(TMP, "jpeg_lossless.dcm")
    run("dcmcjpeg", "+e1", src, q)
    out["jpeg_lossless.dcm"] = read(q)
    q = os.path.join(TMP, "jpeg_baseline.dcm")
    run("dcmcjpeg", "+eb", os.path.join(TMP, "mono2_8bit.dcm"), q)
    out["jpeg_baseline.dcm"] = read(q)
    # a real radiograph: FracAtlas JPEG wrapped by DCMTK's img2dcm, scaled down to 48 columns
    jpg = os.path.join(FIX, "images", "fractured", sorted(os.listdir(os.path.join(FIX, "images", "fractured")))[0])
    big, small = os.path.join(TMP, "real_big.dcm"), os.path.join(TMP, "real.dcm")
    run("img2dcm", jpg, big)
    run("dcmdjpeg", big, os.path.join(TMP, "real_raw.dcm"))
    run("dcmscale", "+Sxv", "48", os.path.join(TMP, "real_raw.dcm"), small)
    out["real_fracatlas.dcm"] = read(small)
    # deflated with pixel data over DCMTK's 4096-byte read-at-once length (read after the parse)
    run("dcmconv", "+td", small, os.path.join(TMP, "real_deflated.dcm"))
    out["real_fracatlas_deflated.dcm"] = read(os.path.join(TMP, "real_deflated.dcm"))
    return out


def image_seeds(dcms):
    out = {}
    srcs = {"8": os.path.join(TMP, "mono2_8bit.dcm"), "16": os.path.join(TMP, "mono2_16bit_window.dcm")}
    for flag, name in (("+on", "8bit.png"), ("+on2", "16bit.png"), ("+obr", "8bit.bmp"), ("+ot", "8bit.tif")):
        q = os.path.join(TMP, "img_" + name)
        run("dcm2pnm", flag, srcs["16"] if "16" in name else srcs["8"], q)
        out[name] = read(q)
    q = os.path.join(TMP, "img.jpg")
    run("dcmj2pnm", "+oj", srcs["8"], q)
    out["8bit.jpg"] = read(q)
    # BigTIFF (no writer here: laid out byte by byte from the BigTIFF layout, 8-byte offsets)
    w, h, pix = 12, 8, bytes(range(96))
    ents = [(256, 4, w), (257, 4, h), (258, 3, 8), (259, 3, 1), (262, 3, 1), (273, 16, 16 + 8 + 20 * 9 + 8),
            (277, 3, 1), (278, 4, h), (279, 16, len(pix))]
    ifd = struct.pack("<Q", len(ents)) + b"".join(
        struct.pack("<HHQ", t, ty, 1) + struct.pack({3: "<H6x", 4: "<I4x", 16: "<Q"}[ty], v) for t, ty, v in ents)
    out["8bit_big.tif"] = b"II" + struct.pack("<HHHQ", 43, 8, 0, 16) + ifd + struct.pack("<Q", 0) + pix
    q = os.path.join(TMP, "real.png")
    run("dcm2pnm", "+on", os.path.join(TMP, "real.dcm"), q)
    out["real_fracatlas.png"] = read(q)
    out["gif_refused.gif"] = b"GIF89a\x01\x00\x01\x00\x00\x00\x00;"
    return out


def torch_seeds():
    import torch
    out = {}
    sd = {"conv1.weight": torch.randn(2, 1, 3, 3), "bn1.running_mean": torch.zeros(2),
          "bn1.num_batches_tracked": torch.tensor(3), "fc.weight": torch.randn(1, 2).half(),
          "fc.bias": torch.tensor([0.5], dtype=torch.float64)}
    base = torch.arange(12, dtype=torch.float32)
    variants = {
        "state_dict.pt": sd,
        "nested_state_dict.pt": {"state_dict": sd, "epoch": 3},
        "nested_model.pt": {"model": {"a.weight": torch.ones(2, 2)}},
        "views.pt": {"a": base[:6].view(2, 3), "b": base[6:].view(3, 2).t()},
        "dtypes.pt": {"i8": torch.tensor([-1, 2], dtype=torch.int8), "u8": torch.tensor([1, 2], dtype=torch.uint8),
                      "b": torch.tensor([True, False]), "bf": torch.tensor([1.5], dtype=torch.bfloat16),
                      "i32": torch.tensor([7], dtype=torch.int32), "i16": torch.tensor([7], dtype=torch.int16)},
    }
    from collections import OrderedDict
    variants["ordered.pt"] = OrderedDict(sd)
    for name, obj in variants.items():
        p = os.path.join(TMP, name)
        torch.save(obj, p)
        out[name] = read(p)
    return out


def safetensors(tensors, metadata=None):
    """The safetensors layout (8-byte little-endian header length, JSON header, buffer)."""
    header, buf = {}, b""
    for name, (dtype, shape, data) in tensors.items():
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [len(buf), len(buf) + len(data)]}
        buf += data
    if metadata is not None:
        header["__metadata__"] = metadata
    h = json.dumps(header).encode()
    h += b" " * (-len(h) % 8)
    return struct.pack("<Q", len(h)) + h + buf


def main():
    if os.path.isdir(CORPUS):
        for t in os.listdir(CORPUS):
            for f in os.listdir(os.path.join(CORPUS, t)):
                if f.startswith("seed_"):
                    os.remove(os.path.join(CORPUS, t, f))
    # YOLO labels: the FracAtlas sample's, and the forms the loader documents
    lab = os.path.join(FIX, "labels", "fractured")
    for f in sorted(os.listdir(lab))[:4]:
        put("yolo_labels", "fracatlas_" + f, read(os.path.join(lab, f)))
    put("yolo_labels", "polygon.txt", "1 0.1 0.1 0.4 0.1 0.4 0.5 0.1 0.5\n")
    put("yolo_labels", "edges.txt", "2 1.0005 0.5 0.2 0.2\n0 0.5 0.5 0 0.1\n0 0.5 0.5 0.2 0.2\n0 0.5 0.5 0.2 0.2\r\n")
    put("yolo_labels", "bad.txt", "3 0.5 0.5 0.2 0.2\n-1 nan inf 1e308 0x1p3\n0 0.5\n")
    # data.yaml
    put("data_yaml", "fracatlas.yaml", read(os.path.join(FIX, "data.yaml")))
    put("data_yaml", "map_names.yaml", "path: .\ntrain: images/train\nval: [images/val, train.txt]\nnames:\n  0: a\n  1: b\n")
    put("data_yaml", "nc_only.yaml", "train: train.txt\nval: images/val\ntest: images/val\nnc: 2\n")
    put("data_yaml", "bad.yaml", "path: /nonexistent\ntrain: [\nnames: {0: a, 2: c}\nnc: -1\n")
    # COCO
    coco = {"images": [{"id": 1, "file_name": "a.png", "width": 100, "height": 80},
                       {"id": 2, "file_name": "b.png", "width": 50, "height": 50}],
            "annotations": [{"id": 1, "image_id": 1, "category_id": 7, "bbox": [10, 10, 20, 30], "iscrowd": 0},
                            {"id": 2, "image_id": 2, "category_id": 3, "bbox": [40, 40, 30, 30]},
                            {"id": 3, "image_id": 2, "category_id": 3, "bbox": [0, 0, 5, 5], "iscrowd": 1}],
            "categories": [{"id": 7, "name": "elbow fracture"}, {"id": 3, "name": "wrist fracture"}]}
    put("coco_json", "small.json", json.dumps(coco))
    put("coco_json", "edge.json", '{"images":[{"id":1e400,"file_name":"../x.png","width":-1,"height":0}],'
        '"annotations":[{"image_id":9,"category_id":1,"bbox":[1,2,3]}],"categories":[{"id":1}]}')
    put("coco_json", "nested.json", "[" * 64 + "]" * 64)
    # CSV manifests
    put("csv_manifest", "basic.csv", "path,label,patient_id,split\na.png,1,p1,train\nb.png,0,p2,val\nsub/c.png,fractured,p1,test\n")
    put("csv_manifest", "quoted.csv", 'path,label\n"a.png",1\n"sub/c.png","not ""fractured"""\n"b.png",\r\n')
    put("csv_manifest", "names.csv", "label,path,extra\nfractured,a.png,x\nnormal,b.png,y\nother,sub/c.png,z\n")
    # class folders (one relative path per line)
    put("class_folders", "two_classes.txt", "fractured/a.png\nfractured/b.png\nnormal/c.png\nnormal/sub/d.png\n")
    put("class_folders", "splits.txt", "train/fractured/a.png\ntrain/normal/b.png\nval/fractured/c.png\nval/normal/d.png\n")
    put("class_folders", "odd_names.txt", "fractured/ sp ace.png\nfractured/\xc3\xa9t\xc3\xa9.PNG\nnormal/.hidden.png\n"
        "normal/-rf.png\nnormal/not_an_image.txt\nthird/x.png\n")
    # config and CLI keys
    put("config_keys", "overrides.txt", "epochs: 3\nimgsz: 64\ndetectors: [yolov8n]\n---\nseed=7\nbatch=4\nlr0=1e-3\n")
    put("config_keys", "bad.txt", "epoch: 3\n---\nimgsz=abc\nmodels=[a, b\nverbose=maybe\n")
    put("config_keys", "default_format.txt", "epochs: 10  # (int) training epochs\nname: null  # (str) run name\n")
    # images and DICOM
    dcms = dicom_seeds()
    for n, b in dcms.items():
        put("dicom_file", n, b)
    for n, b in image_seeds(dcms).items():
        put("image_decode", n, b)
    put("image_decode", "fracatlas_real.jpg", read(os.path.join(FIX, "images", "fractured", sorted(os.listdir(os.path.join(FIX, "images", "fractured")))[0])))
    # the node's datasets: what a C-STORE carries (no preamble or meta header), byte 0 picks the
    # transfer syntax (odd: explicit VR little endian, even: implicit)
    for n in ("mono2_16bit_window.dcm", "mono1_16bit.dcm", "multiframe.dcm"):
        for flag, first in (("+te", b"\x01"), ("+ti", b"\x00")):
            q = os.path.join(TMP, "ds_" + n)
            run("dcmconv", "-F", flag, os.path.join(TMP, n), q)
            put("dicom_node_dataset", flag[1:] + "_" + n, first + read(q))
    # HTTP requests
    png = read(os.path.join(CORPUS, "image_decode", "seed_8bit.png"))
    dcm = dcms["mono2_16bit_window.dcm"]
    def req(head, body=b""):
        return head.encode() + body
    put("http_request", "raw_png.http", req("POST /v1/predict HTTP/1.1\r\nHost: x\r\nContent-Type: image/png\r\n"
                                            "Content-Length: %d\r\n\r\n" % len(png), png))
    part = (b"--XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"scan.dcm\"\r\n"
            b"Content-Type: application/dicom\r\n\r\n" + dcm + b"\r\n--XyZ--\r\n")
    put("http_request", "multipart_dicom.http", req("POST /v1/predict?overlay=true HTTP/1.1\r\nHost: x\r\n"
                                                    "Content-Type: multipart/form-data; boundary=XyZ\r\n"
                                                    "Content-Length: %d\r\n\r\n" % len(part), part))
    chunk = b"%x\r\n" % len(png) + png + b"\r\n0\r\n\r\n"
    put("http_request", "chunked.http", req("POST /v1/predict HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n", chunk))
    put("http_request", "too_large.http", "POST /v1/predict HTTP/1.1\r\nContent-Length: 99999999999\r\n\r\n")
    put("http_request", "bad_name.http", req("POST /v1/predict HTTP/1.1\r\nContent-Type: multipart/form-data; boundary=b\r\n"
                                             "Content-Length: 86\r\n\r\n", b"--b\r\nContent-Disposition: form-data; "
                                             b"name=\"file\"; filename=\"../x\"\r\n\r\nBM\r\n--b--\r\n"))
    put("http_request", "health.http", "GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
    # weight files
    for n, b in torch_seeds().items():
        put("torch_checkpoint", n, b)
    f32 = struct.pack("<4f", 1, 2, 3, 4)
    put("safetensors", "f32.safetensors", safetensors({"w": ("F32", [2, 2], f32)}, {"format": "pt"}))
    put("safetensors", "mixed.safetensors", safetensors({"a": ("F16", [2], b"\0<\0@"), "b": ("I64", [1], struct.pack("<q", -5)),
                                                         "c": ("BOOL", [2], b"\1\0"), "d": ("BF16", [1], b"\x80?"),
                                                         "e": ("U8", [0], b"")}))
    put("safetensors", "bad_offsets.safetensors", safetensors({"w": ("F32", [3], f32)}))
    # state-dict edits: byte 0 the model, byte 1 strict and the value, then (op, key hi, key lo) triples
    for i, ops in enumerate([b"\x00\x01", b"\x01\x00\x06\x00\x00", b"\x02\x03\x00\x00\x05\x03\x00\x10\x02",
                             b"\x03\x01\x08\x00\x00\x00\x00\x01", b"\x03\x00\x07\x00\x00\x02\x01\x00\x03\x00\x02"]):
        put("state_dict_mapping", "edits_%d.bin" % i, ops)
    shutil.rmtree(TMP)


if __name__ == "__main__":
    sys.exit(main())
