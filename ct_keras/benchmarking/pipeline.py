"""Input-pipeline throughput: `make_dataset` with full augmentation and R1r palettes, on
a given PASCAL-MT folder or on a small synthetic set written to a temporary folder."""

import tempfile
import time

from ct_keras.benchmarking.stats import summarize


def measure(data_dir=None, image_size=256, batch_size=10, batches=10, warmup=3, repeats=5,
            synthetic_images=40):
    from ct_keras.data.dataset import make_dataset

    note = f"data_dir={data_dir}"
    with tempfile.TemporaryDirectory() as tmp:
        if data_dir is None:
            from ct_keras.data.synthetic import generate_pascal_mt

            generate_pascal_mt(tmp, num_train=synthetic_images, num_val=2, seed=0, size=image_size)
            data_dir, note = tmp, f"synthetic set, {synthetic_images} train images (ASTMT layout)"
        ds = make_dataset(data_dir, "train", rule="r1r", image_size=(image_size, image_size),
                          batch_size=batch_size, augment=True, repeat=True)
        it = iter(ds)
        for _ in range(warmup):
            next(it)
        seconds = []
        for _ in range(repeats):
            start = time.perf_counter()
            for _ in range(batches):
                next(it)
            seconds.append(time.perf_counter() - start)
    result = summarize(seconds, batches * batch_size)
    result.update({"batch_size": batch_size, "batches_per_run": batches, "source": note})
    return result
