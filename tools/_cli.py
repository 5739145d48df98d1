"""What every command-line tool shares: user errors end in one line, not a traceback."""

import sys

from absl import app


def _user_error(e):
    if isinstance(e, (ValueError, FileNotFoundError, NotADirectoryError, ImportError)):
        return str(e)
    # Errors raised inside tf.data (an unreadable file, say) arrive as TF OpErrors that
    # carry our message; no need to import TensorFlow just to recognise them.
    if type(e).__module__.startswith("tensorflow") and hasattr(e, "message"):
        return e.message
    return None


def run(main):
    """`absl.app.run(main)`, with the errors a user can cause reported as `error: …`."""
    def checked_main(argv):
        try:
            return main(argv)
        except Exception as e:  # noqa: BLE001 — anything else keeps its traceback
            message = _user_error(e)
            if message is None:
                raise
            sys.exit(f"error: {message}")

    app.run(checked_main)
