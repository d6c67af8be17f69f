"""The cost of reading training batches from the memory-mapped arrays (data larger than memory) against
holding them in memory, in one run: images/s of one pass over the training input, and the ratio.

    python bench/bench_memmap.py [--images 4000] [--size 128] [--batch 32]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from workflow_scripts.tfsetup import configure_tensorflow  # noqa: E402

configure_tensorflow()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--images", type=int, default=4000)
    p.add_argument("--size", type=int, default=128)
    p.add_argument("--batch", type=int, default=32)
    a = p.parse_args()
    from workflow_scripts.datasets import make_datasets

    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as tmp:
        arrays, splits = {}, {}
        for split, n in (("train", a.images), ("val", a.images // 4)):
            arr = np.lib.format.open_memmap(f"{tmp}/{split}.npy", "w+", np.uint8, (n, a.size, a.size, 3))
            arr[:] = rng.integers(0, 256, arr.shape, dtype=np.uint8)
            arr.flush()
            labels = pd.DataFrame({"path": [f"{i}.jpg" for i in range(n)], "age": rng.integers(1, 90, n),
                                   "gender": rng.integers(0, 2, n), "race": 0, "datetime": "0"})  # fmt: skip
            labels.to_csv(f"{tmp}/{split}.csv", index=False)
            arrays[split], splits[split] = f"{tmp}/{split}.npy", f"{tmp}/{split}.csv"
        rates = {}
        for name, share in (("in memory", 1.0), ("memory-mapped", 0.0)):
            ds = make_datasets(arrays, splits, a.batch, seed=0, memory_share=share).train
            for _ in ds.take(2):  # warm-up
                pass
            t0 = time.perf_counter()
            n = sum(int(x.shape[0]) for x, _ in ds)
            rates[name] = n / (time.perf_counter() - t0)
            print(f"{name:<14} {rates[name]:>10,.0f} img/s")
        ratio = rates["memory-mapped"] / rates["in memory"]
        print(f"memory-mapped / in memory: {ratio:.2f}x ({a.images} images of {a.size} px, batch {a.batch};")
        print("the file is in the page cache, as on a second epoch)")


if __name__ == "__main__":
    main()
