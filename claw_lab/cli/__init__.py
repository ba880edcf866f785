"""The ``claw-lab`` command: the local stack, task submission and control, workers, runbooks and API tokens.

Every command goes through `claw_lab.manager.TaskManager`; only ``worker``, ``beat``,
``flower`` and ``up`` run the celery programs themselves. Errors from `claw_lab.errors`
become one red line and a non-zero exit status (see `claw_lab.cli.common.EXIT_CODES`).
"""

from __future__ import annotations

from claw_lab.cli import demo, run, runbook, tasks, token, workers
from claw_lab.cli.common import app

__all__ = ["app", "main"]

# The command modules register themselves on `app` when imported.
_COMMANDS = (demo, run, runbook, tasks, token, workers)


def main() -> None:
    """Entry point of the ``claw-lab`` console script."""
    app(prog_name="claw-lab")
