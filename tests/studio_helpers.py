"""A tiny CTN saved as a training run, and pictures, for the palette studio's tests."""

import contextlib
import io
import os

import numpy as np
from PIL import Image

from ct_keras.models import save_model_description
from tests.deploy_helpers import tiny_ctn


def tiny_run_folder(folder, seed=3):
    """ResNet18 at 64², random weights, as a run folder (model.json + checkpoints/best)."""
    model = tiny_ctn(seed=seed)
    save_model_description(model, str(folder))
    os.makedirs(os.path.join(folder, "checkpoints"), exist_ok=True)
    model.save_weights(os.path.join(folder, "checkpoints", "best.weights.h5"))
    return str(folder)


def photo(height=90, width=120, seed=0):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 255, (height, width, 3), dtype=np.uint8)


def png(array, **kwargs):
    buffer = io.BytesIO()
    Image.fromarray(array, **kwargs).save(buffer, format="PNG")
    return buffer.getvalue()


def read_palette_png(data):
    """Task ids of a downloaded palette PNG (index = task id)."""
    image = Image.open(io.BytesIO(data))
    assert image.mode == "P"
    return np.asarray(image).astype(np.int32)


def tiny_palette_run(folder, seed=4):
    """A palette network (paper §6.2; ResNet18 at 64², random weights) as a run folder."""
    import keras

    from ct_keras.models import PaletteNet

    keras.utils.set_random_seed(seed)
    net = PaletteNet(rule="r2", backbone="resnet18", image_size=64)
    save_model_description(net, str(folder))
    os.makedirs(os.path.join(folder, "checkpoints"), exist_ok=True)
    net.save_weights(os.path.join(folder, "checkpoints", "best.weights.h5"))
    return str(folder)


@contextlib.contextmanager
def serving(studio):
    """The studio's app served by uvicorn on a free loopback port in a thread; yields its URL."""
    import socket
    import threading
    import time

    import uvicorn

    from ct_keras.studio.server import create_app

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app(studio), host="127.0.0.1", port=port,
                                           log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.time() + 60
    while not server.started:
        assert time.time() < deadline and thread.is_alive(), "the studio's server did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}/"
    finally:
        server.should_exit = True
        thread.join(timeout=30)
