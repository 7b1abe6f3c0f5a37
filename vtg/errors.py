"""The exception hierarchy of vtg.

Every error the library raises on purpose derives from :class:`VtgError`, so the CLI can turn
any of them into a one-line message and a non-zero exit code, and callers can catch one type.
Each subclass names a kind of failure a user can act on; the message says what to do.
"""

from __future__ import annotations


class VtgError(Exception):
    """Base class of every error vtg raises deliberately."""

    exit_code = 1


class UsageError(VtgError):
    """The request itself is malformed: an empty query, an unknown option, a bad value."""

    exit_code = 2


class EmptyQueryError(UsageError):
    """A text query that is empty or only whitespace."""


class UnknownNameError(UsageError):
    """A method, encoder, writer, preset or backend name that does not exist.

    The message lists the known names so the user can pick one.
    """

    def __init__(self, kind: str, name: str, known: list[str] | tuple[str, ...]):
        self.kind, self.name, self.known = kind, name, list(known)
        super().__init__(f"unknown {kind} {name!r}; known: {', '.join(sorted(self.known))}")


class VideoError(VtgError):
    """A video that cannot be read."""


class VideoNotFoundError(VideoError):
    """The path does not exist or is not a file."""


class NotAVideoError(VideoError):
    """The file exists but holds no video stream (text, image, audio-only, empty)."""


class CorruptVideoError(VideoError):
    """The container or stream is truncated or damaged so frames cannot be decoded."""


class UnsupportedVideoError(VideoError):
    """The video is valid but the chosen backend cannot read it correctly (e.g. decord + edit list)."""


class ModelError(VtgError):
    """A model cannot be loaded."""


class WeightsNotFoundError(ModelError):
    """Weights for a named model are not in the cache or at the given path.

    The message names the model and says how to fetch the weights or where to put them.
    """


class CheckpointError(ModelError):
    """A checkpoint file is malformed or holds something vtg refuses to load."""


class DependencyError(VtgError):
    """An optional dependency needed by the requested feature is not installed."""

    def __init__(self, feature: str, package: str, extra: str | None = None):
        hint = f"pip install 'vtg[{extra}]'" if extra else f"pip install {package}"
        super().__init__(f"{feature} needs the package {package!r}, which is not installed; run: {hint}")


class LLMError(VtgError):
    """An LLM backend could not be reached or configured (never raised for a bad answer)."""


class FFmpegError(VtgError):
    """ffmpeg failed; the message carries ffmpeg's own stderr."""

    def __init__(self, message: str, stderr: str = ""):
        self.stderr = stderr
        tail = stderr.strip().splitlines()[-5:] if stderr else []
        super().__init__(message + (": " + " | ".join(tail) if tail else ""))


class DataError(VtgError):
    """An annotation, prediction or feature file is malformed."""
