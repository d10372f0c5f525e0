"""``matsight app RUN``: serve the visual-analytics app for a run's analytics folder."""

from __future__ import annotations

import ipaddress
import socket
from pathlib import Path

import typer

from matsight.errors import ConfigError


def analytics_folder(run: Path) -> Path:
    """``RUN/analytics`` (or RUN itself when it is an analytics folder); ConfigError when RUN is a training
    run of another kind than a multi-label tagger (analytics cannot be computed for it)."""
    if (run / "points.parquet").is_file():
        return run
    if (run / "checkpoint.pt").is_file():
        from matsight.models import read_spec

        task = read_spec(run).task
        if task != "multilabel":
            raise ConfigError(
                f"{run} holds a {task} model: the app shows multi-label taggers "
                "(`matsight train DATA --task multilabel`, then `matsight analytics RUN`)"
            )
    return run / "analytics"


def is_loopback(host: str) -> bool:
    """Whether ``host`` names this machine's loopback interface (the app stays on this machine)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def listen(host: str, port: int) -> socket.socket:
    """A socket bound to ``host:port`` and listening; ConfigError naming the option when that fails
    (port outside 1..65535, a host that is not an address of this machine, a port in use)."""
    if not 1 <= port <= 65535:
        raise ConfigError(f"--port {port}: choose a port between 1 and 65535 (e.g. 8050)")
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    except (socket.gaierror, UnicodeError):
        raise ConfigError(
            f"--host {host!r} is not an address of this machine: use 127.0.0.1 (the default, this machine "
            "only) or 0.0.0.0 (every interface, reachable from the network)"
        ) from None
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
        sock.listen(128)
    except OSError as exc:
        sock.close()
        raise ConfigError(
            f"--host {host} --port {port}: cannot listen there ({exc.strerror}); choose another"
        ) from None
    return sock


def register(app: typer.Typer) -> None:
    """Adds the ``app`` command to the ``matsight`` command."""

    @app.command("app")
    def serve(
        run: Path = typer.Argument(..., help="Multi-label run folder (or its analytics/ folder)."),
        port: int = typer.Option(8050, help="Port to listen on."),
        host: str = typer.Option(
            "127.0.0.1",
            help="Interface to listen on: 127.0.0.1 keeps the app on this machine; 0.0.0.0 (all) opens it "
            "to the network, deliberately.",
        ),
        device: str = typer.Option("cpu", help="Device for the detail view's saliency maps (cpu, cuda, cuda:1)."),
        api_docs: bool = typer.Option(False, help="Also serve the interactive API docs at /docs."),
    ) -> None:
        """Open the linked-embeddings app for RUN's analytics (computed by `matsight analytics RUN`)."""
        import uvicorn

        from matsight.analytics.server import LOCAL_HOSTS, create_app
        from matsight.utils import resolve_device

        local = is_loopback(host)
        resolve_device(device)
        sock = listen(host, port)
        try:
            server_app = create_app(
                analytics_folder(run), device=device, allowed_hosts=LOCAL_HOSTS if local else None, api_docs=api_docs
            )
        except BaseException:
            sock.close()
            raise
        typer.echo(f"matsight app: http://{'127.0.0.1' if local else host}:{port}/  ({server_app.state.data.n} images)")
        if not local:
            typer.echo(f"--host {host}: the app is reachable from other machines on port {port}")
        uvicorn.Server(uvicorn.Config(server_app, log_level="warning")).run(sockets=[sock])
