"""What every command-line tool shares: user errors end in one line, not a traceback, and
TensorFlow starts without the notes it prints on every CPU machine."""

import errno
import glob
import importlib.util
import os
import re
import sys
import tempfile
import traceback

# The tools run the installed package (`make install` puts it in .venv, `pip install -e .`
# anywhere else); they do not edit sys.path to find it.
if importlib.util.find_spec("ct_keras") is None:
    sys.exit(f"error: the ct_keras package is not installed for {sys.executable}: run `make install` "
             f"and use .venv/bin/python, or `pip install -e .` in {os.path.dirname(os.path.dirname(os.path.abspath(__file__)))}")

from absl import app  # noqa: E402

from ct_keras.cpu import prefer_onednn  # noqa: E402  (imports no TensorFlow)

prefer_onednn()  # before TensorFlow loads: its oneDNN kernels on AVX2-only CPUs too

# TensorFlow 2.21 logs these through absl before its logging is initialised, so
# TF_CPP_MIN_LOG_LEVEL does not reach them: the absl notice itself, oneDNN being on (our
# default, see docs/design.md §7) and "no CUDA driver" on a machine without GPU.
_START_UP_NOISE = (
    r"WARNING: All log messages before absl::InitializeLog\(\) is called are written to STDERR"
    r"|^I\d{4} [\d:. ]+\d+ port\.cc:\d+\] oneDNN custom operations are on"
    r"|^I\d{4} [\d:. ]+\d+ cudart_stub\.cc:\d+\] Could not find cuda drivers"
)
# Listing the devices then logs "failed call to cuInit" at error level: noise on a machine
# with no NVIDIA device at all, a real fault (a broken driver) on one with a GPU.
_NO_GPU_NOISE = r"|^E\d{4} [\d:. ]+\d+ cuda_platform\.cc:\d+\] failed call to cuInit"


def _start_up_noise():
    has_gpu = bool(glob.glob("/dev/nvidia[0-9]*"))
    return re.compile(_START_UP_NOISE + ("" if has_gpu else _NO_GPU_NOISE))


def import_tensorflow_quietly():
    """Imports TensorFlow and lists its devices with its C++ start-up notes (`_START_UP_NOISE`)
    filtered out of stderr; everything else it prints there (and any import error) still
    comes through."""
    if "tensorflow" in sys.modules:
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), 2)
        try:
            import tensorflow
            tensorflow.config.list_physical_devices()
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            captured.seek(0)
            lines = captured.read().decode(errors="replace").splitlines(keepends=True)
            noise = _start_up_noise()
            sys.stderr.write("".join(l for l in lines if not noise.search(l)))
            sys.stderr.flush()


# The line of a TF error's message that names our error (raised in a tf.data function).
_WRAPPED_ERROR = re.compile(r"^(?:[\w.]+\.)?(BadSampleError|ValueError|FileNotFoundError): (.+)$", re.M)


# What the machine can cause and the user can fix: a full disk or quota, a read-only or
# forbidden folder.
_ENVIRONMENT_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES}

# Multi-worker training when a peer exits (its own error printed there).
_COLLECTIVE_ABORT = re.compile(r"Collective ops is aborted by: (.+)")
_PEER = re.compile(r"/job:(\w+)(?:/replica:\d+)?/task:(\d+)")


def _user_error(e):
    if isinstance(e, (ValueError, FileNotFoundError, NotADirectoryError, ImportError, app.UsageError)):
        return str(e)
    if isinstance(e, OSError) and e.errno in _ENVIRONMENT_ERRNOS:
        return f"{e.strerror}" if e.strerror and e.filename is None else str(e)
    # Errors raised inside tf.data (an unreadable file, say) arrive as TF OpErrors that
    # carry our message, with TF's graph context and the Python traceback around it: the
    # user gets our line alone. No need to import TensorFlow just to recognise them.
    if type(e).__module__.startswith("tensorflow") and hasattr(e, "message"):
        aborted = _COLLECTIVE_ABORT.search(e.message)
        if aborted:  # multi-worker: the one that failed printed why
            peer = _PEER.search(e.message, aborted.start())
            who = f"{peer.group(1)} {peer.group(2)}" if peer else "another worker"
            how = ("it stopped sending heartbeats" if "heartbeats" in aborted.group(1)
                   else aborted.group(1).strip())
            return f"{who} of the cluster stopped ({how}); its own output or exit status says why. This worker stops too"
        found = _WRAPPED_ERROR.findall(e.message)
        if not found:
            return e.message
        kind, text = found[-1]
        return f"bad sample: {text}" if kind == "BadSampleError" else text
    return None


def run(main, tensorflow=True):
    """`absl.app.run(main)`, with the errors a user can cause reported as `error: …`.

    `tensorflow`: import TensorFlow quietly once the flags are parsed (tools that never
    touch it, like the TFLite demo and the serving client, pass False)."""
    def checked_main(argv):
        try:
            if tensorflow:
                import_tensorflow_quietly()
            return main(argv)
        except Exception as e:  # noqa: BLE001 — anything else keeps its traceback
            message = _user_error(e)
            if message is None:
                traceback.print_exc()
            else:
                print(f"error: {message}", file=sys.stderr)
            _exit_now(1)

    app.run(checked_main)


def _exit_now(code):
    """Ends the process at once, skipping the interpreter's shutdown: after an error raised
    inside tf.data (a corrupt image, say) that shutdown can deadlock on TensorFlow's
    input-pipeline threads — seen here in about one run in seven: the error printed, then
    the process idle until killed. Checkpoints and backups are written to a temporary name
    and renamed, so nothing finished is lost."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
