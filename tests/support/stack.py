"""A real ``claw-lab up`` subprocess for tests, with its state file, output and process tree."""

from __future__ import annotations

import fcntl
import os
import re
import signal
import struct
import subprocess
import sys
import termios
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from claw_lab.redis_server import free_port
from claw_lab.stack import STATE_FILE, StackState

ROOT = Path(__file__).resolve().parents[2]
STACK_ENV = {
    "CLAW_TASK_MODULES": "tests.support.tasks",
    "CLAW_HEARTBEAT_INTERVAL": "0.5",
    "PYTHONPATH": str(ROOT),
}


def record_running_stack(folder: Path, redis_url: str) -> None:
    """Leave the state file a ``claw-lab up`` run from ``folder`` writes (this process as its PID)."""
    (folder / ".claw").mkdir(exist_ok=True)
    state = StackState(pid=os.getpid(), started_at=datetime.now(UTC), redis_url=redis_url)
    (folder / ".claw" / STATE_FILE).write_text(state.model_dump_json())


def claw_lab_command(*args: str) -> list[str]:
    """The installed ``claw-lab`` script (or ``python -m claw_lab.cli``) with ``args``."""
    script = Path(sys.executable).parent / "claw-lab"
    return [str(script), *args] if script.exists() else [sys.executable, "-m", "claw_lab.cli", *args]


def alive(pid: int) -> bool:
    """Whether ``pid`` is a live process (zombies count as gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(") ", 1)[1][0] != "Z"


def descendants(pid: int) -> set[int]:
    """Every live process below ``pid`` in the process tree."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(") ", 1)[1].split()
            except (OSError, IndexError):
                continue
            parents[int(entry.name)] = int(fields[1])
    found: set[int] = set()
    frontier = {pid}
    while frontier:
        frontier = {child for child, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return {p for p in found if alive(p)}


class UpProcess:
    """One ``claw-lab up`` we started; stopped by its PID."""

    def __init__(self, process: subprocess.Popen[bytes], state_dir: Path, log: Path, env: dict[str, str]) -> None:
        self.process = process
        self.state_dir = state_dir
        self.log = log
        self.env = env

    @property
    def pid(self) -> int:
        return self.process.pid

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def state(self) -> StackState | None:
        try:
            return StackState.model_validate_json((self.state_dir / STATE_FILE).read_text())
        except (OSError, ValueError):
            return None

    def wait_for(self, what: str, ready: Callable[[], bool], timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        while not ready():
            if self.process.poll() is not None:
                raise AssertionError(f"claw-lab up exited ({self.process.returncode}) before {what}:\n{self.output()}")
            if time.monotonic() > deadline:
                raise AssertionError(f"no {what} after {timeout}s:\n{self.output()}")
            time.sleep(0.1)

    def wait_ready(self, timeout: float = 120) -> StackState:
        """Wait for the "claw_lab is up" banner; returns the stack's state file."""
        self.wait_for("ready banner", lambda: "claw_lab is up" in self.output(), timeout)
        state = self.state()
        assert state is not None, self.output()
        return state

    def terminate(self, timeout: float = 60) -> int:
        """SIGTERM ``claw-lab up`` and wait for it; SIGKILL its group if it hangs."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.pid, signal.SIGKILL)
            self.process.wait()
            raise AssertionError(f"claw-lab up did not stop on SIGTERM:\n{self.output()}") from None


def stack_environment(state_dir: Path, env: dict[str, str] | None = None) -> dict[str, str]:
    """This environment without its ``CLAW_*`` variables, plus the test stack's, a state dir and a free API port."""
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith("CLAW_")},
        **STACK_ENV,
        "CLAW_STATE_DIR": str(state_dir),
        "CLAW_API_PORT": str(free_port()),
        **(env or {}),
    }


@contextmanager
def claw_up(tmp_path: Path, *args: str, env: dict[str, str] | None = None) -> Iterator[UpProcess]:
    """Run ``claw-lab up ARGS`` with its own state directory and API port; always stopped at the end."""
    state_dir = tmp_path / "state"
    environment = stack_environment(state_dir, env)
    log = tmp_path / "up.log"
    with log.open("wb") as sink:
        process = subprocess.Popen(
            claw_lab_command("up", *args),
            cwd=ROOT,
            env=environment,
            stdout=sink,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    up = UpProcess(process, state_dir, log, environment)
    try:
        yield up
    finally:
        if process.poll() is None:
            up.terminate()


# A session leader that opens its terminal by name acquires it as its controlling terminal
# and leads the terminal's foreground process group, as a shell's job does.
_TERMINAL_LAUNCHER = "import os, sys; os.close(os.open(os.ttyname(0), os.O_RDWR)); os.execv(sys.argv[1], sys.argv[1:])"


class TerminalUp(UpProcess):
    """``claw-lab up`` in a pseudo-terminal: ``interrupt()`` types Ctrl-C."""

    def __init__(
        self, process: subprocess.Popen[bytes], state_dir: Path, log: Path, env: dict[str, str], terminal: int
    ) -> None:
        super().__init__(process, state_dir, log, env)
        self.terminal = terminal

    def output(self) -> str:
        """What the terminal showed, without its styling escapes."""
        return re.sub(r"\x1b\[[0-9;]*m", "", super().output())

    def interrupt(self) -> None:
        """Type Ctrl-C: the terminal sends SIGINT to its foreground process group."""
        os.write(self.terminal, b"\x03")


def _copy_terminal(terminal: int, log: Path) -> None:
    with log.open("ab") as sink:
        while True:
            try:
                chunk = os.read(terminal, 4096)
            except OSError:  # EIO: every process holding the terminal has exited
                return
            if not chunk:
                return
            sink.write(chunk)
            sink.flush()


@contextmanager
def claw_up_in_terminal(state_dir: Path, *args: str, env: dict[str, str] | None = None) -> Iterator[TerminalUp]:
    """Run ``claw-lab up ARGS`` as the foreground job of a pseudo-terminal 200 columns wide."""
    environment = stack_environment(state_dir, {"NO_COLOR": "1", **(env or {})})
    terminal, device = os.openpty()
    fcntl.ioctl(device, termios.TIOCSWINSZ, struct.pack("HHHH", 50, 200, 0, 0))
    log = state_dir.parent / "terminal.log"
    process = subprocess.Popen(
        [sys.executable, "-c", _TERMINAL_LAUNCHER, *claw_lab_command("up", *args)],
        cwd=ROOT,
        env=environment,
        stdin=device,
        stdout=device,
        stderr=device,
        start_new_session=True,
    )
    os.close(device)
    copier = threading.Thread(target=_copy_terminal, args=(terminal, log), daemon=True)
    copier.start()
    up = TerminalUp(process, state_dir, log, environment, terminal)
    try:
        yield up
    finally:
        if process.poll() is None:
            up.terminate()
        copier.join(timeout=10)
        os.close(terminal)
    assert not descendants(up.pid)
