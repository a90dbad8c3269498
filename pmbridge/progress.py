"""A rich progress display for sync runs (the engine reports; this only draws)."""

from __future__ import annotations

from types import TracebackType

from rich.console import Console
from rich.progress import (
    BarColumn,
    Progress,
    SpinnerColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)

from sync.engine.runner import Progress as SyncUpdate
from sync.model import Resource


class SyncProgress:
    """One bar per resource: pages and records fetched, records written."""

    def __init__(self, console: Console) -> None:
        self._progress = Progress(
            SpinnerColumn(),
            TextColumn("[bold]{task.description:<11}"),
            BarColumn(),
            TextColumn("{task.completed:>7} fetched"),
            TextColumn("{task.fields[written]:>7} written"),
            TextColumn("[dim]{task.fields[pages]} pages"),
            TimeElapsedColumn(),
            console=console,
        )
        self._tasks: dict[Resource, TaskID] = {}

    def __enter__(self) -> SyncProgress:
        self._progress.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        for task in self._tasks.values():
            # Finished bars show full: the total is only known at the end.
            completed = self._progress.tasks[task].completed
            self._progress.update(task, total=max(completed, 1), completed=max(completed, 1))
        self._progress.stop()

    def update(self, update: SyncUpdate) -> None:
        task = self._tasks.get(update.resource)
        if task is None:
            task = self._progress.add_task(
                update.resource.value.replace("_", " "), total=None, pages=0, written=0
            )
            self._tasks[update.resource] = task
        self._progress.update(
            task, completed=update.fetched, pages=update.pages, written=update.written
        )
