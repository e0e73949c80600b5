"""The ``zhengyin`` command line: one Typer app, a sub-app per area.

Every command reads the same settings as the service. Errors print one line (and a hint)
on stderr and exit with status 1; nothing else prints a traceback.
"""

from __future__ import annotations

import os
import sys

import typer

from zhengyin.core.errors import ZhengyinError
from zhengyin.core.jose import JWSError
from zhengyin.core.privacy import mask_text, scrub_database_values

from . import audit, checks, clients, imports, keys, pki, registry, seals, service, verify
from .common import CLIInputError, DataDirectoryMissingError, check_arguments

__all__ = ["app", "main"]

app = typer.Typer(
    name="zhengyin",
    help="Zhengyin (证印): electronic licences, seals and signatures.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
service.register(app)
app.add_typer(pki.app, name="pki")
app.add_typer(clients.app, name="client")
app.add_typer(keys.app, name="keys")
app.add_typer(audit.app, name="audit")
app.add_typer(registry.types_app, name="licence-type")
imports.register(registry.licence_app)
app.add_typer(registry.licence_app, name="licence")
app.add_typer(registry.store_app, name="store")
app.add_typer(registry.holder_app, name="holder")
app.add_typer(checks.items_app, name="item")
app.add_typer(checks.receipt_app, name="receipt")
app.add_typer(checks.qr_app, name="qr")
app.add_typer(seals.app, name="seal")
app.add_typer(seals.stamp_app, name="stamp")
verify.register(app)

# ZhengyinError is every package's root (core's platform errors included: an old schema,
# a broken audit chain); the others predate it.
DOMAIN_ERRORS: tuple[type[Exception], ...] = (
    ZhengyinError, JWSError, CLIInputError, DataDirectoryMissingError,
)


def main() -> None:
    """Entry point of the console script.

    Known errors print one line with a hint; anything else prints one line too, and the
    traceback only with ``ZHENGYIN_DEBUG=1``.
    """
    try:
        check_arguments(sys.argv[1:])
        app()
    except DOMAIN_ERRORS as exc:
        message = getattr(exc, "message", str(exc))
        hint = getattr(exc, "hint", None)
        print(f"error: {message}" + (f" (hint: {hint})" if hint else ""), file=sys.stderr)
        sys.exit(1)
    except Exception as exc:
        if os.environ.get("ZHENGYIN_DEBUG") == "1":
            raise
        text = mask_text(scrub_database_values(str(exc)))
        print(f"internal error: {type(exc).__name__}: {text[:300]} "
              "(set ZHENGYIN_DEBUG=1 for the traceback)", file=sys.stderr)
        sys.exit(2)
