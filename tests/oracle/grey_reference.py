"""Reference grey images for image_test: decodes each input with Pillow and converts to 8-bit grey
with ITU-R 601-2 luma (Pillow's convert("L"): L = R*299/1000 + G*587/1000 + B*114/1000).

usage: grey_reference.py OUT_DIR IMAGE...   writes OUT_DIR/<stem>.pgm per image
"""
import os
import sys

from PIL import Image


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    for path in sys.argv[2:]:
        im = Image.open(path)
        im = im.convert("L")
        stem = os.path.splitext(os.path.basename(path))[0]
        im.save(os.path.join(out, stem + ".pgm"))


if __name__ == "__main__":
    main()
