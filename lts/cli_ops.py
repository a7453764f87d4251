"""``flask lts backup`` and ``flask lts restore``: the operator's database commands.

Thin wrappers around :mod:`lts.services.backup`; errors name the option or argument.
"""

from __future__ import annotations

import click
from flask import current_app
from flask.cli import with_appcontext

from lts.errors import ServiceError


def register_ops_commands(group: click.Group) -> None:
    """Add ``backup`` and ``restore`` to the ``flask lts`` group."""
    group.add_command(backup_command)
    group.add_command(restore_command)


def _fail(exc: ServiceError) -> None:
    """Exit 1 with the service's message and the fields it names."""
    details = "; ".join(f"{field}: {msg}" for field, msgs in exc.fields.items() for msg in msgs)
    raise click.ClickException(f"{exc.message}: {details}" if details else exc.message)


@click.command("backup")
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False),
              help="File to write (never overwritten). SQLite: a database file; "
                   "PostgreSQL: a pg_dump custom-format archive.")
@with_appcontext
def backup_command(out: str) -> None:
    """Write a consistent backup of the database while the server keeps running."""
    from lts.services.backup import backup

    try:
        result = backup(current_app._get_current_object(), out)  # type: ignore[attr-defined]
    except ServiceError as exc:
        _fail(exc)
        return
    click.echo(f"Backed up the {result.backend} database (revision {result.revision}) to "
               f"{result.path} ({result.size} bytes).")


@click.command("restore")
@click.argument("source", metavar="FILE", type=click.Path(dir_okay=False))
@click.option("--force", is_flag=True,
              help="Restore even though a trading loop holds the scheduler lease (only when "
                   "that process is known to be gone).")
@with_appcontext
def restore_command(source: str, force: bool) -> None:
    """Replace the database with the backup FILE (refused while a server runs its loop)."""
    from lts.services.backup import restore

    try:
        result = restore(current_app._get_current_object(), source,  # type: ignore[attr-defined]
                         force=force)
    except ServiceError as exc:
        _fail(exc)
        return
    click.echo(f"Restored the {result.backend} database from {result.path} (revision "
               f"{result.revision}). Run `flask lts init-db` if the code is newer than the "
               f"backup, then start the server.")
