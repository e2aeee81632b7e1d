"""Plain helpers for tests that use real services: paths, the CLI as a subprocess,
the environment of a subprocess, and a real worker process. Fixtures that use
them live in ``conftest.py``; tests import these with ``from services import ...``.
"""

from __future__ import annotations

import os
import sys
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BBC_CSV = Path(os.environ.get("NEWSCLF_TEST_BBC", ROOT.parent / "shared" / "data" / "bbc-text.csv"))
VENV_BIN = Path(os.environ.get("NEWSCLF_TEST_BIN", Path(sys.executable).parent))


def newsclf_cmd(*args: str) -> list[str]:
    """The installed ``newsclf`` entry point, run as a subprocess."""
    return [str(VENV_BIN / "newsclf"), *args]


def service_env(
    *, database_url: str, broker_url: str, models_dir: Path, **extra: str
) -> dict[str, str]:
    """The environment of a CLI or worker subprocess pointed at these services."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("NEWSCLF_") or k.startswith("NEWSCLF_TEST_")
    }
    env.update(
        NEWSCLF_DATABASE_URL=database_url,
        NEWSCLF_BROKER_URL=broker_url,
        NEWSCLF_MODELS_DIR=str(models_dir),
        NEWSCLF_BATCH_WAIT_S="0.05",
        NEWSCLF_RELOAD_INTERVAL_S="0.5",
        TF_CPP_MIN_LOG_LEVEL="2",
        PYTHONUNBUFFERED="1",
        # Off unless a test asks: workers of parallel tests would race for one port.
        NEWSCLF_METRICS_PORT="0",
    )
    env.update({f"NEWSCLF_{k.upper()}": str(v) for k, v in extra.items()})
    return env


class WorkerProcess:
    """A real ``newsclf worker`` subprocess with its log in a file."""

    def __init__(self, env: dict[str, str], log_path: Path, name: str = "w1") -> None:
        import subprocess

        self.log_path = log_path
        self._log = open(log_path, "ab")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            newsclf_cmd("worker", "-n", f"{name}-{uuid.uuid4().hex[:6]}@%h"),
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_ready(self, timeout: float = 90) -> None:
        import time

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if "ready." in self.log():
                return
            if self.proc.poll() is not None:
                raise AssertionError(f"worker exited {self.proc.returncode}:\n{self.log()[-3000:]}")
            time.sleep(0.2)
        raise AssertionError(f"worker not ready after {timeout}s:\n{self.log()[-3000:]}")

    def kill(self) -> None:
        import signal

        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        import signal
        import subprocess

        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.kill()
        self._log.close()
