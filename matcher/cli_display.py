"""What every ``sendmatch`` command shows on the console while it works: its stages, each with
a spinner then a tick and its time, and the problems found in a user's files.

One module for the command groups (``cli``, ``cli_forecast``, ``cli_la_forecast``), so a run
reads the same whichever command a user typed.
"""

from __future__ import annotations

from collections.abc import Sequence

from rich.console import Console
from rich.markup import escape
from rich.progress import Progress, SpinnerColumn, TaskID, TextColumn, TimeElapsedColumn


def progress(console: Console) -> Progress:
    """The stage display, on ``console`` (stderr: stdout carries the results)."""
    return Progress(
        SpinnerColumn(finished_text="[green]✓[/]"),
        TextColumn("{task.description}"),
        TimeElapsedColumn(),
        console=console,
    )


class Stages:
    """Shows each stage of a run as a line with a spinner, then a tick and its time."""

    def __init__(self, display: Progress) -> None:
        self._progress = display
        self._task: TaskID | None = None
        self._description = ""

    def __call__(self, stage: str) -> None:
        self.done()
        self._description = escape(stage[:1].upper() + stage[1:])
        self._task = self._progress.add_task(self._description, total=None)

    def note(self, message: str) -> None:
        """Progress within the current stage (a model's), shown beside its description."""
        if self._task is not None:
            text = f"{self._description}: {escape(message)}"
            self._progress.update(self._task, description=text)

    def done(self, outcome: str | None = None) -> None:
        """Tick the current stage; ``outcome`` replaces its description (e.g. "failed")."""
        if self._task is not None:
            if outcome is not None:
                self._progress.update(self._task, description=f"{self._description}: {outcome}")
            self._progress.update(self._task, total=1, completed=1)
            self._task = None

    def fail(self, outcome: str = "failed") -> None:
        """End the current stage in red and stop the display, before an error is printed."""
        self.done(f"[red]{outcome}[/]")
        self._progress.stop()


def print_problems(console: Console, problems: Sequence[object]) -> None:
    """Every problem, one per line, under a count: the user fixes the files in one pass."""
    count = len(problems)
    console.print(
        f"[bold red]{count} problem{'s' if count != 1 else ''} in the input files.[/] "
        "Nothing was written. Fix these and run again:"
    )
    for problem in problems:
        # soft_wrap: one problem per line, never broken mid-message, easy to copy into a ticket
        console.print(f"  • {escape(str(problem))}", soft_wrap=True)
