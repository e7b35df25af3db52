"""First-click latency when the kept window was already decoded in one view, with and without
handing that decode to the views decode as its plain view (`plain=` of
`Predictor.decode_window_logits`). Alternating runs, a fresh session each, features cached.

    python benchmarks/first_click_plain_view.py [--threads 2] [--repeats 10]
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

from napari_inter2former.session import Predictor


def nucleus(side: int, ry: int, rx: int, seed: int = 3) -> np.ndarray:
    """One bright ellipse in the middle of a noisy uint8 image."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:side, :side]
    image = rng.normal(40, 6, (side, side))
    image[((yy - side // 2) / ry) ** 2 + ((xx - side // 2) / rx) ** 2 <= 1] += 150
    return np.clip(image, 0, 255).astype(np.uint8)


def first_click_ms(predictor: Predictor, reuse: bool, side: int) -> tuple[float, dict]:
    decode = type(predictor).decode_window_logits
    predictor.decode_window_logits = (lambda w, r, progress=None, views=True, plain=None:
                                      decode(predictor, w, r, progress, views=views, plain=plain if reuse else None))
    try:
        started = time.perf_counter()
        result = predictor.new_session().add_click(side // 2, side // 2, True)
        return (time.perf_counter() - started) * 1000, result.extra
    finally:
        del predictor.decode_window_logits


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=10)
    args = parser.parse_args()
    side = 400
    for name, (ry, rx) in {"200x180 px nucleus": (100, 90), "120x100 px nucleus": (60, 50)}.items():
        predictor = Predictor(threads=args.threads)
        predictor.set_image(nucleus(side, ry, rx))
        for reuse in (True, False):  # warm-up: encode every window the click touches
            first_click_ms(predictor, reuse, side)
        times = {True: [], False: []}
        for _ in range(args.repeats):
            for reuse in (True, False):
                ms, extra = first_click_ms(predictor, reuse, side)
                times[reuse].append(ms)
        print(f"{name} (kept window zoom {extra['zoom']:.2f}): first click p50 "
              f"{statistics.median(times[True]):.0f} ms reusing the one-view decode, "
              f"{statistics.median(times[False]):.0f} ms decoding it again (n={args.repeats} each)")


if __name__ == "__main__":
    main()
