#!/usr/bin/env python3
"""Checks that every file in a run directory is whole (tests/cli/kill9.sh): JSON parses, safetensors
headers and sizes agree, CSV rows have the header's field count, PNG ends with IEND, torch .pt zips
read, text files end with a newline. Temp files of an interrupted atomic write (*.tmp.*, *.tmp) are
counted, not checked: they are not outputs.

    run_intact.py RUN_DIR [--no-temp]   # exit 1 naming each broken file; --no-temp: temp files are errors too
"""
import csv
import json
import os
import re
import struct
import sys
import zipfile

TEMP = re.compile(r"\.tmp(\.\d+\.[0-9a-f]+)?$")


def problem(path):
    ext = os.path.splitext(path)[1].lower()
    with open(path, "rb") as f:
        data = f.read()
    if ext == ".json":
        try:
            json.loads(data)
        except ValueError as e:
            return "JSON does not parse: %s" % e
    elif ext == ".safetensors":
        if len(data) < 8:
            return "shorter than the 8-byte header length"
        n = struct.unpack("<Q", data[:8])[0]
        if 8 + n > len(data):
            return "header length %d past the end" % n
        try:
            h = json.loads(data[8:8 + n])
        except ValueError as e:
            return "header does not parse: %s" % e
        end = max([v["data_offsets"][1] for k, v in h.items() if k != "__metadata__"], default=0)
        if 8 + n + end != len(data):
            return "buffer of %d bytes, header says %d" % (len(data) - 8 - n, end)
    elif ext == ".csv":
        rows = list(csv.reader(data.decode("utf-8").splitlines()))
        if rows and any(len(r) != len(rows[0]) for r in rows):
            return "rows with another field count than the header"
        if data and not data.endswith(b"\n"):
            return "does not end with a newline"
    elif ext == ".png":
        if not data.startswith(b"\x89PNG") or b"IEND" not in data[-12:]:
            return "not a whole PNG"
    elif ext in (".pt", ".pth"):
        try:
            with zipfile.ZipFile(path) as z:
                bad = z.testzip()
            if bad:
                return "zip member %s is corrupt" % bad
        except zipfile.BadZipFile as e:
            return "not a whole zip: %s" % e
    elif ext in (".yaml", ".md", ".txt", ".html"):
        if data and not data.endswith(b"\n"):
            return "does not end with a newline"
    return None


def main():
    root, no_temp = sys.argv[1], "--no-temp" in sys.argv
    broken, temps = [], []
    for d, _, files in os.walk(root):
        for name in files:
            p = os.path.join(d, name)
            if TEMP.search(name):
                temps.append(p)
                continue
            why = problem(p)
            if why:
                broken.append("%s: %s" % (os.path.relpath(p, root), why))
    for b in broken:
        print("run_intact: broken " + b)
    if no_temp:
        for t in temps:
            print("run_intact: temp file left: " + os.path.relpath(t, root))
    sys.exit(1 if broken or (no_temp and temps) else 0)


if __name__ == "__main__":
    main()
