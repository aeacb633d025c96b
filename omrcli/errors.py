"""Errors that the batch layer reports as one line per input."""


class OmrError(Exception):
    """A problem with one input that the user can act on; the message names the fix."""


class InputError(OmrError):
    """The input file is missing, unreadable, corrupt, too large or not an image."""


class NoStavesError(OmrError):
    """A page was read but holds no five-line staff."""


class ModelError(OmrError):
    """The ONNX model is missing, unreadable or lacks the metadata inference needs."""
