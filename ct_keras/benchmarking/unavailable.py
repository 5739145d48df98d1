"""The one exception every benchmark path raises when it cannot run here."""


class Unavailable(Exception):
    """This path cannot run here; the message says why (its code is not there, no GPU, …)."""
