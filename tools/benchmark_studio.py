"""Latency of the palette studio: from the end of a brush stroke to the redrawn prediction,
measured in a headless Chromium on the real page and server.

    python tools/benchmark_studio.py --backbone=resnet34 --image_size=256 --strokes=12 \
        --out=docs/bench/studio_latency.json

A fresh CTN (weights do not change the speed) is saved as a training run unless
--model_dir is given, so the studio runs it as tools/studio.py would: the exact fast path.
The page opens a synthetic sample at the model's size with the quadrants palette, then
paints --strokes brush strokes, one after the other's prediction is shown. Each row is
the page's own count (`window.studioLatencies`): stroke end → composite prediction
decoded in the page, which includes the page's debounce (120 ms), the request, the
palette rasterised from the shapes, the network, the pictures and their decoding; the
server's share is split into palette / network / outputs / pictures. The first stroke warms up.
Needs Chromium (apt-get install -y chromium) and the [test] extra (playwright).
"""

import json
import os
import shutil
import socket
import statistics
import tempfile
import threading
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

from _cli import run  # noqa: E402  (first: it says how to install the package if it is missing)

from absl import app, flags  # noqa: E402

flags.DEFINE_string("model_dir", None, "A training run to use instead of a fresh model.")
flags.DEFINE_enum("backbone", "resnet34", ["resnet18", "resnet34", "resnet50", "resnet101"], "Encoder.")
flags.DEFINE_integer("image_size", 256, "Model input size (and the sample picture's size).")
flags.DEFINE_integer("strokes", 12, "Brush strokes to time (the first one is a warm-up, not counted).")
flags.DEFINE_string("chromium", "/usr/bin/chromium",
                    "The Chromium binary (Debian: apt-get install chromium).")
flags.DEFINE_string("screenshot", None, "Optional PNG of the page after the last stroke.")
flags.DEFINE_string("out", None, "Optional JSON file of the results.")
FLAGS = flags.FLAGS


def _fresh_run(folder):
    import keras

    from ct_keras.models import CompositeTaskingNet, save_model_description

    keras.utils.set_random_seed(0)
    model = CompositeTaskingNet(backbone=FLAGS.backbone, image_size=FLAGS.image_size)
    save_model_description(model, folder)
    os.makedirs(os.path.join(folder, "checkpoints"))
    model.save_weights(os.path.join(folder, "checkpoints", "best.weights.h5"))
    return folder


def _serve(studio):
    import uvicorn

    from ct_keras.studio.server import create_app

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app(studio), host="127.0.0.1", port=port,
                                           log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        if not thread.is_alive():
            raise RuntimeError("The studio's server did not start")
        time.sleep(0.05)
    return server, thread, f"http://127.0.0.1:{port}/"


def _drive(url):
    from playwright.sync_api import sync_playwright

    version = "() => Number(document.querySelector('#prediction').dataset.version)"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=FLAGS.chromium, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(url)
        page.wait_for_selector("body[data-ready=true]")
        page.select_option("#rule", "quadrants")
        page.click("#sample")
        page.wait_for_function(f"({version})() > 0", timeout=300000)
        page.click("#tasks button[data-task=normals]")
        box = page.locator("#overlay").bounding_box()
        for k in range(FLAGS.strokes):
            shown = page.evaluate(version)
            y = box["y"] + box["height"] * (0.1 + 0.8 * k / max(1, FLAGS.strokes - 1))
            page.mouse.move(box["x"] + 0.1 * box["width"], y)
            page.mouse.down()
            page.mouse.move(box["x"] + 0.9 * box["width"], y, steps=10)
            page.mouse.up()
            page.wait_for_function(f"({version})() > {shown}", timeout=300000)
            page.wait_for_function(f"window.studioLatencies.length >= {k + 2}")
        latencies = page.evaluate("window.studioLatencies")
        if FLAGS.screenshot:
            page.screenshot(path=FLAGS.screenshot, full_page=True)
        browser.close()
    return latencies[2:]  # [0]: the starting palette, [1]: the warm-up stroke


def _summary(rows, key):
    values = [r[key] for r in rows]
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def main(argv):
    if FLAGS.strokes < 2:
        raise app.UsageError(f"--strokes must be at least 2 (one warm-up). Received {FLAGS.strokes}")
    if not os.path.isfile(FLAGS.chromium):
        raise FileNotFoundError(f"--chromium {FLAGS.chromium} does not exist: apt-get install -y chromium")
    from ct_keras.benchmarking.machine import describe
    from ct_keras.inference import load_predictor
    from ct_keras.studio import Studio
    from ct_keras.studio.session import SAMPLE_SIZE

    if FLAGS.image_size != SAMPLE_SIZE:
        print(f"note: the page's samples are {SAMPLE_SIZE}², resized to the model's {FLAGS.image_size}²")
    work = tempfile.mkdtemp(prefix="studio_bench_")
    try:
        model_dir = FLAGS.model_dir or _fresh_run(os.path.join(work, "run"))
        server, thread, url = _serve(Studio(load_predictor(model_dir)))
        try:
            rows = _drive(url)
        finally:
            server.should_exit = True
            thread.join(timeout=30)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    result = {"model": FLAGS.model_dir or f"fresh CTN {FLAGS.backbone}", "image_size": FLAGS.image_size,
              "picture": f"synthetic sample {SAMPLE_SIZE}²", "strokes": len(rows), "debounce_ms": 120,
              **{key: _summary(rows, key) for key in ("ms", "palette_ms", "inference_ms", "outputs_ms",
                                                       "encode_ms")},
              "rows": rows, "machine": describe(), "load_average_1min": os.getloadavg()[0]}
    print(f"stroke → redrawn prediction over {len(rows)} strokes (median [min, max], ms; "
          f"load average {os.getloadavg()[0]:.1f}):")
    for key, label in (("ms", "stroke → prediction shown (with 120 ms debounce)"),
                       ("palette_ms", "  server: palette from the shapes"),
                       ("inference_ms", "  server: network (exact fast path)"),
                       ("outputs_ms", "  server: outputs decoded at the picture's size"),
                       ("encode_ms", "  server: pictures for the page")):
        s = result[key]
        print(f"  {label:52s} {s['median']:7.0f} [{s['min']:.0f}, {s['max']:.0f}]")
    if FLAGS.out:
        os.makedirs(os.path.dirname(os.path.abspath(FLAGS.out)), exist_ok=True)
        with open(FLAGS.out, "w") as f:
            json.dump(result, f, indent=1)
        print(f"wrote {FLAGS.out}")


if __name__ == "__main__":
    run(main)
