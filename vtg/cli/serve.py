"""``vtg serve [ROOT...] [--library NAME]``: answer queries over HTTP with the models kept warm."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from vtg.cli.options import check_method_options, method_flag, method_options, parse_key_values, ranged
from vtg.errors import UsageError


LOG_LEVELS = ("critical", "error", "warning", "info", "debug")


def register(app: typer.Typer) -> None:
    app.command("serve")(serve_command)


def serve_command(
    roots: Optional[List[Path]] = typer.Argument(None, help="Folders whose videos may be grounded and played."),
    library: Optional[List[str]] = typer.Option(None, "--library", "-L", help="Library (name or folder, built by `vtg index DIR --library`) to search; repeatable."),
    host: str = typer.Option("127.0.0.1", "--host", help="Address to bind; anything but loopback needs --token."),
    port: int = ranged(8000, "--port", "-p", low=0, high=65535, help="TCP port."),
    token: Optional[str] = typer.Option(None, "--token", envvar="VTG_SERVE_TOKEN",
                                        help="Every request must carry it (Bearer header or the page's cookie)."),
    max_concurrent: int = ranged(2, "--max-concurrent", high=1024, help="Grounding/search requests run at once; more wait in the queue."),
    queue: int = ranged(8, "--queue", low=0, high=1000, help="Requests that may wait for a slot (0-1000); past that, 503."),
    queue_wait: float = ranged(5.0, "--queue-wait", kind=float, low=0.1, high=60,
                               help="Seconds a queued request waits for a slot (0.1-60), then 503."),
    max_connections: int = ranged(1000, "--max-connections", low=8, high=100000,
                                  help="Open connections (8-100000); past that, the idlest is closed."),
    method: str = typer.Option("tfvtg", "--method", "-m", help="Grounding method (see `vtg methods`)."),
    encoder: Optional[str] = method_flag("encoder"),
    model: Optional[str] = method_flag("model"),
    fps: Optional[float] = method_flag("fps"),
    preset: Optional[str] = method_flag("preset"),
    llm: Optional[str] = method_flag("llm"),
    llm_url: Optional[str] = method_flag("llm_url"),
    device: Optional[str] = method_flag("device"),
    option: Optional[List[str]] = method_flag("option"),
    log_level: str = typer.Option("info", "--log-level", help="uvicorn log level: critical, error, warning, info, debug."),
) -> None:
    """Serve grounding and library search over HTTP, with a web page at http://HOST:PORT/."""
    from vtg.serve import ServeConfig, run

    if log_level not in LOG_LEVELS:
        raise UsageError(f"--log-level must be one of {', '.join(LOG_LEVELS)}")

    options = method_options(encoder=encoder, model=model, fps=fps, preset=preset, llm=llm, llm_url=llm_url,
                             device=device)
    options.update(parse_key_values(option))
    check_method_options(method, options)  # before fastapi and the warm-up load anything
    config = ServeConfig(roots=tuple(roots or ()), libraries=tuple(library or ()), host=host, port=port,
                         token=token, max_concurrent=max_concurrent, queue=queue, queue_wait=queue_wait,
                         max_connections=max_connections, method=method, method_options=options)

    def ready(service) -> None:
        shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
        login = "/?token=<token>" if token else "/"
        typer.echo(f"vtg serve: {method} warm; {len(config.roots)} folder(s), {len(config.libraries)} "
                   f"librar{'y' if len(config.libraries) == 1 else 'ies'}; open http://{shown}:{port}{login}", err=True)

    run(config, log_level=log_level, ready=ready)
