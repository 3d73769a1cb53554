"""The one exception type that the `audiocs` command reports as a one-line error."""


class AudiocsError(Exception):
    """A user-facing error: bad input file, bad config key, incompatible checkpoint.

    The message names the file or key and the reason; the CLI prints it without a traceback.
    """
