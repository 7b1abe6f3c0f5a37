"""Entry point of the ``vtg`` command: builds the typer app and turns errors into one line.

Each command group lives in its own module exposing ``register(app)``; add new modules to
:data:`COMMAND_MODULES`. Library errors (:class:`vtg.errors.VtgError`) print ``vtg: error: ...``
and exit non-zero; a traceback is shown only with ``--debug`` or ``VTG_DEBUG=1``.
"""

from __future__ import annotations

import contextlib
import errno
import importlib
import logging
import os
import re
import sys
from typing import Any, Optional

import typer

from vtg import __version__
from vtg.cli.metavars import readable
from vtg.envvars import check_environment
from vtg.errors import VtgError

COMMAND_MODULES = [
    "vtg.cli.ground",
    "vtg.cli.info",
    "vtg.cli.index",
    "vtg.cli.search",
    "vtg.cli.models",
    "vtg.cli.batch",
    "vtg.cli.export",
    "vtg.cli.evaluate",
    "vtg.cli.bench",
    "vtg.cli.plot",
    "vtg.cli.report",
    "vtg.cli.method_commands",
    "vtg.cli.overlay",
    "vtg.cli.serve",
]

app = typer.Typer(
    name="vtg",
    help="Video temporal grounding: find when a sentence happens in a video.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    # Help is printed as written: rich markup would eat "vtg[ray]", and rich's option tables
    # leave ~19 columns for the help text at 80 columns; click's plain layout leaves ~48.
    rich_markup_mode=None,
)


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"vtg {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    ctx: typer.Context,
    debug: bool = typer.Option(False, "--debug", help="Show full tracebacks and debug logs (also after the command; "
                                                       "or $VTG_DEBUG=1)."),
    version: bool = typer.Option(False, "--version", help="Print vtg's version and exit.", is_eager=True,
                                 callback=_print_version),
    frame_limit: Optional[float] = typer.Option(
        None, "--frame-limit", metavar="N", help="Most frames sampled from one video (default 200000, or $VTG_MAX_FRAMES)."),
    pixel_limit: Optional[float] = typer.Option(
        None, "--pixel-limit", metavar="N", help="Most pixels per decoded frame (default 36000000, 8K; or $VTG_MAX_PIXELS)."),
    decoder: Optional[str] = typer.Option(
        None, "--decoder", metavar="NAME",
        help="Video decoder for indexing: pyav (CPU, default), nvdec (the GPU's video engine), torchcodec, decord; "
             "or $VTG_DECODER."),
    precision: Optional[str] = typer.Option(
        None, "--precision", metavar="NAME",
        help="Encoder precision: fp32 (CPU default), fp16 (CUDA default) or bf16 (much faster on CPUs "
             "with bf16 units, e.g. avx512_bf16 or AMX); or $VTG_PRECISION."),
    max_model_gb: Optional[float] = typer.Option(
        None, "--max-model-gb", metavar="GB", help="Refuse models whose config needs more memory (default: this "
        "machine's RAM plus GPU memory, or $VTG_MAX_MODEL_GB)."),
    max_download_gb: Optional[float] = typer.Option(
        None, "--max-download-gb", metavar="GB", help="Refuse downloading a model larger than this (default 200, or "
        "$VTG_MAX_DOWNLOAD_GB)."),
    yes: bool = typer.Option(False, "--yes", "-y",
                             help="Download a model over 1 GB without asking (on a terminal vtg asks first; or $VTG_YES=1)."),
) -> None:
    from vtg.session import Session

    # The run's one session: flags over $VTG_* (each checked, before any model loads), current
    # until click closes the root context, so an in-process caller's next run starts afresh.
    session = Session.from_environment(max_frames=frame_limit, max_pixels=pixel_limit, decoder=decoder,
                                       precision=precision, max_model_gb=max_model_gb,
                                       max_download_gb=max_download_gb, assume_yes=yes or None)
    check_environment()  # every other $VTG_* value: typed and in range, before any work
    scope = contextlib.ExitStack()
    scope.enter_context(session.active())
    ctx.call_on_close(scope.close)
    if debug:
        os.environ["VTG_DEBUG"] = "1"
        setup_logging()


for _name in COMMAND_MODULES:
    importlib.import_module(_name).register(app)


def command():
    """The click command tree of :data:`app`, with readable metavars (:mod:`vtg.cli.metavars`)."""
    return readable(typer.main.get_command(app))


def debug_enabled() -> bool:
    return os.environ.get("VTG_DEBUG", "").strip().lower() in ("1", "true", "yes", "on")


class _StderrHandler(logging.Handler):
    """Library warnings as ``vtg: warning: ...`` lines on the *current* stderr (tests swap it)."""

    def emit(self, record: logging.LogRecord) -> None:
        level = "warning" if record.levelno >= logging.WARNING else record.levelname.lower()
        print(f"vtg: {level}: {record.getMessage()}", file=sys.stderr)


def setup_logging() -> None:
    """Route the ``vtg`` loggers to stderr once; ``--debug`` also shows their debug messages."""
    logger = logging.getLogger("vtg")
    if not any(isinstance(h, _StderrHandler) for h in logger.handlers):
        logger.addHandler(_StderrHandler())
        logger.propagate = False
    logger.setLevel(logging.DEBUG if debug_enabled() else logging.WARNING)


def lift_debug(argv: list[str]) -> list[str]:
    """``argv`` with every ``--debug`` and ``--yes`` moved to the front, where the root options are
    parsed, so ``vtg ground v.mp4 q --debug --yes`` works too. Arguments after ``--`` are left alone."""
    end = argv.index("--") if "--" in argv else len(argv)
    lifted = [flag for flag in ("--debug", "--yes") if flag in argv[:end]]
    head = [a for a in argv[:end] if a not in lifted]
    return lifted + head + argv[end:]


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; returns the exit code (used by the console script and in-process tests)."""
    setup_logging()
    argv = lift_debug(list(sys.argv[1:] if argv is None else argv))
    try:
        # Without standalone mode click *returns* the code of a typer.Exit raised in a command.
        returned = command().main(args=argv, prog_name="vtg", standalone_mode=False)
        if isinstance(returned, int) and not isinstance(returned, bool):
            return returned
    except VtgError as exc:
        if debug_enabled():
            raise
        print(f"vtg: error: {exc}{remedy_of(exc)}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("vtg: interrupted", file=sys.stderr)
        return 130
    except (OSError, MemoryError) as exc:  # the machine's faults: the last line of defence
        if debug_enabled():
            raise
        print(f"vtg: error: {describe_fault(exc)}", file=sys.stderr)
        return 1
    except typer.Exit as exc:
        return exc.exit_code
    except SystemExit as exc:  # click's usage errors in non-standalone mode end up here via typer
        return int(exc.code or 0)
    except Exception as exc:  # click.exceptions.* are handled below
        import click

        aborts: tuple[type[Any], ...] = (click.exceptions.Abort,)
        click_errors: tuple[type[Any], ...] = (click.exceptions.ClickException,)
        try:  # recent typer raises the exceptions of its own vendored click copy
            from typer._click.exceptions import ClickException as TyperClickException
            from typer.exceptions import Abort as TyperAbort
            aborts, click_errors = aborts + (TyperAbort,), click_errors + (TyperClickException,)
        except ImportError:
            pass
        if isinstance(exc, aborts):
            print("vtg: aborted", file=sys.stderr)
            return 130
        if isinstance(exc, click_errors):
            exc.show()
            return exc.exit_code
        if debug_enabled():
            raise
        print(f"vtg: internal error: {type(exc).__name__}: {exc} (set VTG_DEBUG=1 for the traceback)", file=sys.stderr)
        return 1
    return 0


#: What to do about an operating-system error, by errno.
_REMEDIES = {
    errno.ENOSPC: "free some space or write somewhere else",
    errno.EDQUOT: "free some space or write somewhere else",
    errno.EROFS: "the file system is read-only; write somewhere else",
    errno.EACCES: "check its permissions or write somewhere else",
    errno.EPERM: "check its permissions or write somewhere else",
    errno.EISDIR: "it is a directory; give a file name",
    errno.ENOTDIR: "a part of the path is a file, not a directory; choose another path",
    errno.ENOENT: "check that the path exists",
    errno.ENAMETOOLONG: "use a shorter name",
    errno.EMFILE: "too many open files; raise the limit (ulimit -n)",
}


#: Temporary siblings of whole-file writes (``.name.<random>.tmp`` from vtg.fileio,
#: ``.stem.partial<pid>.mp4`` from vtg.outputs, ``.stem.part.mp4``) -> the name the user gave.
_TEMP_SIBLING = re.compile(r"^\.(?P<name>.+)\.[A-Za-z0-9_]+\.tmp$"
                           r"|^\.(?P<stem>.+)\.part(?:ial)?\d*(?P<suffix>\.[^.]*)?$")


def _user_path(path: str) -> str:
    """The file the user named, for a temporary sibling vtg was writing it through."""
    head, _, base = path.rpartition("/")
    match = _TEMP_SIBLING.match(base)
    if not match:
        return path
    name = match["name"] or match["stem"] + (match["suffix"] or "")
    return f"{head}/{name}" if head else name


def remedy_of(exc: VtgError) -> str:
    """`` (what to do)`` for a vtg error that reports a fault of the machine (an OSError subclass,
    such as vtg.outputs.WriteError, raised from the system's error), else ``""``."""
    cause = exc.__cause__ or exc.__context__
    if not isinstance(exc, OSError) or not isinstance(cause, OSError):
        return ""
    remedy = _REMEDIES.get(cause.errno or -1)
    return f" ({remedy})" if remedy and remedy not in str(exc) else ""


def describe_fault(exc: OSError | MemoryError) -> str:
    """One line for an OSError (naming the path and what to do) or a MemoryError."""
    if isinstance(exc, MemoryError):
        return "out of memory; lower --fps / --frame-limit / --pixel-limit, or use a machine with more memory"
    reason = exc.strerror or str(exc) or type(exc).__name__
    paths = [_user_path(str(p)) for p in (exc.filename, exc.filename2) if p is not None]
    where = f"{' -> '.join(paths)}: " if paths else ""
    remedy = _REMEDIES.get(exc.errno or -1)
    return f"{where}{reason}" + (f" ({remedy})" if remedy else "")


def entry() -> None:
    sys.exit(main())


if __name__ == "__main__":
    entry()
