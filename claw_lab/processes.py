"""Child processes of the local stack: started in their own session, output streamed, stopped by PID.

Each child leads a new process group whose id is its PID, so a terminal's Ctrl-C reaches
only ``claw-lab`` (which then stops the children in order), and a child that ignores
SIGTERM can be killed together with anything it forked — never anything else.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

LineSink = Callable[[str, str], None]
"""Receives ``(child name, one line of its output)``."""


@dataclass(frozen=True)
class ChildSpec:
    """What to run for one component of the stack."""

    name: str
    command: Sequence[str]
    env: dict[str, str] = field(default_factory=dict, repr=False)
    cwd: Path | None = None


class ChildProcess:
    """One running child; its output goes to a line sink (prefixed streaming) or to a log file."""

    def __init__(self, spec: ChildSpec, *, sink: LineSink | None = None, log_file: Path | None = None) -> None:
        self.spec = spec
        self._sink = sink
        self.log_file = log_file
        self._reader: threading.Thread | None = None
        self._log: IO[bytes] | None = None
        if log_file is not None:
            log_file.parent.mkdir(parents=True, exist_ok=True)
            self._log = log_file.open("wb")
        output: int | IO[bytes] = self._log if self._log is not None else subprocess.PIPE
        self.process = subprocess.Popen(
            list(spec.command),
            env=spec.env,
            cwd=spec.cwd,
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        if self._log is None:
            self._reader = threading.Thread(target=self._pump, name=f"claw-{spec.name}-output", daemon=True)
            self._reader.start()

    @property
    def name(self) -> str:
        """The component's name (``worker``, ``beat``, ``api``, ...)."""
        return self.spec.name

    @property
    def pid(self) -> int:
        """PID of the child (also the id of its process group)."""
        return self.process.pid

    @property
    def returncode(self) -> int | None:
        """Exit status once the child has ended, else None."""
        return self.process.poll()

    def _pump(self) -> None:
        stream = self.process.stdout
        if stream is None:
            return
        with stream:
            for raw in iter(stream.readline, b""):
                line = raw.decode(errors="replace").rstrip()
                if line and self._sink is not None:
                    try:
                        self._sink(self.name, line)
                    except OSError:
                        # Our own output is gone (a closed pipe or terminal): keep draining the
                        # child's, or it blocks on a full pipe and cannot shut down.
                        self._sink = None

    def output_tail(self, lines: int = 40) -> str:
        """The last lines the child wrote to its log file (empty when output is streamed)."""
        if self.log_file is None or not self.log_file.exists():
            return ""
        return "\n".join(self.log_file.read_text(errors="replace").splitlines()[-lines:])

    def signal(self, signum: int) -> None:
        """Send ``signum`` to the child's PID (not to its group)."""
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signum)

    def stop(self, timeout: float = 20.0) -> int:
        """SIGTERM the child, SIGKILL its process group after ``timeout`` seconds; returns its exit status."""
        self.signal(signal.SIGTERM)
        try:
            code = self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            code = self.process.wait()
        self._reap_group()
        self._close()
        return code

    def kill(self) -> None:
        """SIGKILL the child and every process still in its group."""
        self._reap_group()
        self.signal(signal.SIGKILL)

    def _reap_group(self) -> None:
        # Anything the child forked and left behind in its own group (pool processes, kernels).
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, signal.SIGKILL)

    def _close(self) -> None:
        if self._reader is not None:
            self._reader.join(timeout=5)
        if self._log is not None:
            self._log.close()
            self._log = None
