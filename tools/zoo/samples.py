"""The corpus' natural samples: 64 RGB images of 320x320 in [0, 255] (uint8, NHWC), made from the
natural photos of tools/natural_images.sh: each photo's centre square and its mirror image, in an order
shuffled with seed 20261207. Every source model resizes them to its own input and preprocesses them as
its application does. Run with Debian's python3 (numpy, PIL).

usage: samples.py IMAGES_DIR OUT.npy
"""
import sys

import numpy as np
from PIL import Image

SIZE, COUNT, SEED = 320, 64, 20261207


def centre_square(path):
    im = Image.open(path).convert("RGB")
    w, h = im.size
    s = min(w, h)
    box = ((w - s) // 2, (h - s) // 2, (w - s) // 2 + s, (h - s) // 2 + s)
    return np.asarray(im.crop(box).resize((SIZE, SIZE), Image.BILINEAR), dtype=np.uint8)


def main(images_dir, out):
    names = [l.strip() for l in open(f"{images_dir}/images.txt") if l.strip()]
    crops = []
    for name in names:
        c = centre_square(f"{images_dir}/{name}")
        crops += [c, c[:, ::-1]]
    order = np.random.default_rng(SEED).permutation(len(crops))[:COUNT]
    if len(order) < COUNT:
        raise SystemExit(f"samples: {len(crops)} crops from {len(names)} images, {COUNT} needed")
    np.save(out, np.stack([crops[i] for i in order]))


if __name__ == "__main__":
    main(*sys.argv[1:3])
