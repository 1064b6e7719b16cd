"""``sendmatch data``: public data sendmatch can fetch once and keep, for use offline.

``sendmatch data download ehcp-statistics`` fetches the DfE's "Education, health and care
plans" statistics (every LA's plans by age and setting, January 2010-2024) into the cache, for
``sendmatch forecast --la``. Like ``sendmatch osm download``, it is one of the two commands
that go on the internet, and only when run; a second run finds the file in the cache.
"""

from __future__ import annotations

import shlex
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

EXIT_FAILED = 1  # the same codes as matcher.cli's
EXIT_INPUT_PROBLEM = 2

data_app = typer.Typer(
    help="Public data sendmatch can fetch once into its cache and then use offline.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
)


class Dataset(StrEnum):
    EHCP_STATISTICS = "ehcp-statistics"


_DOWNLOAD_HELP = (
    "Download a public data set once into the cache and print where it is.\n\n"
    "ehcp-statistics: the DfE's 'Education, health and care plans' statistics (the 2024 "
    "release's 'Download all data' ZIP, Open Government Licence): every LA's EHC plans each "
    "January 2010-2024 by age band and by type of establishment, for `sendmatch forecast --la "
    "CODE`. A second call finds the file in the cache without going online. Without internet: "
    "download the ZIP by hand (the error says where) and give it with --ehcp-statistics "
    "FILE.zip."
)
_CACHE_HELP = (
    "Folder for downloaded data (no data about children is kept there). Default: "
    "$SENDMATCH_CACHE_DIR, else ~/.cache/sendmatch."
)


@data_app.command("download", help=_DOWNLOAD_HELP)
def download_command(
    dataset: Annotated[Dataset, typer.Argument(help="What to download: ehcp-statistics.")],
    cache_dir: Annotated[
        Path | None,
        typer.Option("--cache-dir", metavar="DIR", help=_CACHE_HELP, show_default=False),
    ] = None,
    update: Annotated[
        bool, typer.Option("--update", help="Download again even if the file is cached.")
    ] = False,
) -> None:
    """``sendmatch data download``: fetch once, print the path on stdout."""
    from geodata.network import default_cache_dir
    from matcher.forecast import dfe_download

    errors = Console(stderr=True)
    folder = default_cache_dir() if cache_dir is None else cache_dir
    if dataset is not Dataset.EHCP_STATISTICS:  # pragma: no cover - one data set so far
        raise typer.Exit(EXIT_INPUT_PROBLEM)
    try:
        with errors.status("Fetching the DfE's EHC plan statistics (once, then kept)"):
            found = dfe_download.download_statistics(folder, update=update)
    except dfe_download.OfflineError as exc:
        errors.print(f"[bold red]Cannot get the statistics:[/] {escape(str(exc))}", soft_wrap=True)
        raise typer.Exit(EXIT_INPUT_PROBLEM) from None
    except dfe_download.StatisticsDownloadError as exc:
        errors.print(f"[bold red]Cannot get the statistics:[/] {escape(str(exc))}", soft_wrap=True)
        raise typer.Exit(EXIT_FAILED) from None
    typer.echo(str(found.path))  # the path alone on stdout, for scripts
    how = "Downloaded" if found.downloaded else "Already in the cache"
    errors.print(
        f"{how}. `sendmatch forecast --la CODE` finds it there; elsewhere give it with "
        f"--ehcp-statistics {escape(shlex.quote(str(found.path)))}",
        soft_wrap=True,
    )
