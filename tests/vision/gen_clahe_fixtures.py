"""Development-time generator of the CLAHE fixtures in tests/data/clahe.

Makes seeded synthetic images (gradients, blocks, noise; a grey-looking one,
a nearly constant one, a constant one and one smaller than a tile), runs
scikit-image on each exactly as the reference's "Adaptive Equalization"
contrast mode does, and writes <name>.in.png and <name>.out.png (RGB PNG,
channels in array order).  Needs numpy, scikit-image and Pillow:

    python tests/vision/gen_clahe_fixtures.py [out_dir]
"""
import os
import sys

import numpy as np
from PIL import Image
from skimage import exposure


def reference(img):
    # The expression of inference-models' apply_adaptive_equalization_to_numpy_image.
    x = img.astype(np.float32) / 255
    return (exposure.equalize_adapthist(x, clip_limit=0.03) * 255).astype(np.uint8)


def colour(rng, w, h, noise, blocks):
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    img = np.stack([40 + 150 * xx / w, 200 - 120 * yy / h, 90 + 60 * np.sin(xx / 7.0 + yy / 11.0)], -1)
    for _ in range(blocks):
        x0, y0 = rng.integers(0, w), rng.integers(0, h)
        bw, bh = rng.integers(3, max(4, w // 3)), rng.integers(3, max(4, h // 3))
        img[y0:y0 + bh, x0:x0 + bw] = rng.integers(0, 256, 3)
    img += rng.normal(0, noise, img.shape)
    return np.clip(np.round(img), 0, 255).astype(np.uint8)


def images():
    rng = np.random.default_rng(20261128)
    yield "grad-64x48", colour(rng, 64, 48, 6, 3)
    yield "blocks-97x131", colour(rng, 97, 131, 10, 8)
    yield "mixed-333x251", colour(rng, 333, 251, 3, 12)
    g = colour(rng, 120, 90, 5, 5)[:, :, 1]
    yield "gray-120x90", np.stack([g, g, g], -1)
    flat = np.full((30, 40, 3), 128, np.uint8)
    flat[rng.integers(0, 30, 12), rng.integers(0, 40, 12)] += rng.integers(0, 2, (12, 3)).astype(np.uint8)
    yield "flat-40x30", flat
    yield "const-16x16", np.full((16, 16, 3), 200, np.uint8)
    yield "tiny-7x5", colour(rng, 7, 5, 20, 1)


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "data", "clahe")
    os.makedirs(out, exist_ok=True)
    for name, img in images():
        Image.fromarray(img).save(os.path.join(out, name + ".in.png"), optimize=True)
        Image.fromarray(reference(img)).save(os.path.join(out, name + ".out.png"), optimize=True)
        print(name, img.shape)


if __name__ == "__main__":
    main()
