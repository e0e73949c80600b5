"""``zhengyin serve`` and ``zhengyin db``."""

from __future__ import annotations

from functools import partial
from typing import Annotated

import typer

from ..database import current_revision, head_revision, upgrade
from .common import console, err_console, require_data_dir, runtime, warn_about_base_url

db_app = typer.Typer(help="Database schema.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    """Attach ``serve`` and ``db`` to the root app."""
    app.command()(serve)
    app.add_typer(db_app, name="db")


def serve(
    host: Annotated[str | None, typer.Option(help="listen address (ZHENGYIN_HOST)")] = None,
    port: Annotated[int | None, typer.Option(help="listen port (ZHENGYIN_PORT)")] = None,
    workers: Annotated[int, typer.Option(help="HTTP worker processes, one per core in "
                                         "production (ZHENGYIN_HTTP_WORKERS)",
                                         envvar="ZHENGYIN_HTTP_WORKERS", min=1)] = 1,
) -> None:
    """Run the service. Refuses to start on an outdated database schema."""
    from zhengyin.core.auditchain import BackgroundChainer

    from ..logs import configure_logging
    from ..serving import ServeError, ensure_can_listen, serve_workers

    current = runtime()
    settings = current.settings
    current.check_schema()
    current.keystore  # noqa: B018 - fail now, with a clear message, on a bad KEK
    if settings.is_development:
        current.ensure_pki()
    host, port = host or settings.host, port or settings.port
    try:
        ensure_can_listen(host, port)  # a port in use is the one thing to say
    except ServeError as exc:
        err_console.print(f"error: {exc}", markup=False, highlight=False)
        raise typer.Exit(1) from None
    warn_about_base_url(settings, listening_port=port, unset_warns=False)
    configure_logging(settings.log_level, json_output=settings.log_json)
    chainer = None
    if workers > 1 and settings.audit_chaining == "background":
        # The supervisor's: no commit in this process wakes it, so it sweeps the outbox
        # four times a second.
        chainer = partial(BackgroundChainer, current.audit_sequencer, interval=0.25)
    else:
        current.close()  # the one worker builds its own runtime
    try:
        serve_workers(host, port, workers, chainer)
    except ServeError as exc:
        err_console.print(f"error: {exc}", markup=False, highlight=False)
        raise typer.Exit(1) from None
    finally:
        if chainer is not None:
            current.close()


@db_app.command("upgrade")
def db_upgrade(
    revision: Annotated[str, typer.Argument(help="target revision")] = "head",
) -> None:
    """Apply database migrations."""
    engine = runtime().engine
    before = current_revision(engine)
    upgrade(engine, revision)
    console.print(f"database at {current_revision(engine)} (was {before or 'empty'})")


@db_app.command("current")
def db_current() -> None:
    """Show the schema revision of the database and of this code."""
    require_data_dir(runtime().settings)
    engine = runtime().engine
    console.print(f"database: {current_revision(engine) or 'empty'}; code: {head_revision(engine)}")
