"""Files written whole or not at all: a temporary name renamed into place, so that a kill or
a full disk never leaves half a checkpoint, backup or metrics file (docs/faults.md)."""

import json
import os


def replace_atomically(path, write, tmp=None):
    """Calls `write(tmp)` then renames `tmp` (default `path + ".tmp"`) to `path`: a kill never
    leaves half a file. If writing fails (a full disk, say) the temporary file is removed, the
    previous `path` is left as it was, and the `OSError` names `path` and says so."""
    tmp = tmp or path + ".tmp"
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException as e:
        if os.path.exists(tmp):
            os.remove(tmp)
        if isinstance(e, OSError):
            kept = "the previous one is kept" if os.path.exists(path) else "nothing was written"
            reason = os.strerror(e.errno) if e.errno else str(e)
            raise OSError(e.errno, f"Cannot write {path} ({reason}); {kept}") from e
        raise


def write_atomically(path, text):
    """Writes `text` to a temporary name renamed into place (`replace_atomically`)."""
    def write(tmp):
        with open(tmp, "w") as f:
            f.write(text)

    replace_atomically(path, write)


def write_json_atomically(path, value):
    write_atomically(path, json.dumps(value, indent=2, sort_keys=True))
