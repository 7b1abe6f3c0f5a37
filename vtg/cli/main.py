"""Entry point of the ``vtg`` command: builds the typer app and turns errors into one line.

Each command group lives in its own module exposing ``register(app)``; add new modules to
:data:`COMMAND_MODULES`. Library errors (:class:`vtg.errors.VtgError`) print ``vtg: error: ...``
and exit non-zero; a traceback is shown only with ``--debug`` or ``VTG_DEBUG=1``.
"""

from __future__ import annotations

import importlib
import logging
import os
import sys

import typer

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
        from vtg import __version__

        typer.echo(f"vtg {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    debug: bool = typer.Option(False, "--debug", help="Show full tracebacks and debug logs (also after the command).",
                               envvar="VTG_DEBUG"),
    version: bool = typer.Option(False, "--version", help="Print vtg's version and exit.", is_eager=True,
                                 callback=_print_version),
) -> None:
    if debug:
        os.environ["VTG_DEBUG"] = "1"
        setup_logging()


for _name in COMMAND_MODULES:
    importlib.import_module(_name).register(app)


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
    """``argv`` with every ``--debug`` moved to the front, where the root option is parsed, so
    ``vtg ground v.mp4 q --debug`` works too. Arguments after ``--`` are left alone."""
    end = argv.index("--") if "--" in argv else len(argv)
    head = [a for a in argv[:end] if a != "--debug"]
    return (["--debug"] if len(head) < end else []) + head + argv[end:]


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; returns the exit code (used by the console script and in-process tests)."""
    setup_logging()
    argv = lift_debug(list(sys.argv[1:] if argv is None else argv))
    try:
        # Without standalone mode click *returns* the code of a typer.Exit raised in a command.
        returned = app(args=argv, prog_name="vtg", standalone_mode=False)
        if isinstance(returned, int) and not isinstance(returned, bool):
            return returned
    except VtgError as exc:
        if debug_enabled():
            raise
        print(f"vtg: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("vtg: interrupted", file=sys.stderr)
        return 130
    except typer.Exit as exc:
        return exc.exit_code
    except SystemExit as exc:  # click's usage errors in non-standalone mode end up here via typer
        return int(exc.code or 0)
    except Exception as exc:  # click.exceptions.* are handled below
        import click

        aborts, click_errors = (click.exceptions.Abort,), (click.exceptions.ClickException,)
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


def entry() -> None:
    sys.exit(main())


if __name__ == "__main__":
    entry()
