"""The one error type of the data code, and the counter that `skip_bad_samples` uses."""

import contextlib
import logging
import os

logger = logging.getLogger("ct_keras.data")


class BadSampleError(ValueError):
    """A file of the data set is missing, unreadable or holds values it must not.

    A `ValueError`, so callers that do not care about the data code's own types can
    catch the usual one. `path` is the offending file.
    """

    def __init__(self, path, problem):
        self.path = str(path)
        super().__init__(f"{problem}: {self.path}")


class SkipCounter:
    """Turns `BadSampleError`s into warnings that say how many samples were dropped so far.

    Used wherever `skip_bad_samples=True`: a long build should not die on one broken
    file out of ten thousand, but the user must learn that files were dropped.
    """

    def __init__(self, what="sample"):
        self.what = what
        self.count = 0

    def skip(self, error):
        self.count += 1
        logger.warning("Skipped bad %s (%d so far): %s", self.what, self.count, error)

    def summary(self):
        if self.count:
            logger.warning("Skipped %d bad %s(s) in total.", self.count, self.what)
        return self.count


SKIPPED_SAMPLES_LOG = "skipped_samples.log"


class _Counting(logging.FileHandler):
    def __init__(self, path):
        super().__init__(path)
        self.problems = set()  # each once, however many passes read it

    @property
    def skipped(self):
        return len(self.problems)

    def emit(self, record):
        message = record.getMessage()
        if message.startswith("Skipped bad "):
            self.problems.add(message.split("): ", 1)[-1])
        super().emit(record)


@contextlib.contextmanager
def skipped_samples_log(folder):
    """Inside the block, every sample the data code skips is also a line of
    `<folder>/skipped_samples.log`, appended as it happens (a crash keeps it). Yields a
    handler whose `skipped` counts the different ones; `folder=None` logs nothing and counts nothing."""
    if folder is None:
        yield None
        return
    os.makedirs(folder, exist_ok=True)
    handler = _Counting(os.path.join(folder, SKIPPED_SAMPLES_LOG))
    handler.setFormatter(logging.Formatter("%(message)s"))
    logger.addHandler(handler)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)
        handler.close()
