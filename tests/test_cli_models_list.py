"""``newsclf models list`` and ``newsclf status`` show accuracy as a percentage."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from services import newsclf_cmd, service_env


def test_accuracy_reads_as_a_percentage(tiny_artifact: Path, tmp_path: Path) -> None:
    env = service_env(database_url=f"sqlite:///{tmp_path / 'news.db'}",
                      broker_url="redis://127.0.0.1:1/0", models_dir=tmp_path / "models")

    def cli(*args: str) -> str:
        done = subprocess.run(newsclf_cmd(*args), env=env, capture_output=True, text=True,
                              timeout=120)
        assert done.returncode == 0, done.stderr
        return done.stdout

    cli("db", "upgrade")
    cli("models", "register", str(tiny_artifact))
    assert re.search(r"^\* \S+  accuracy \d{1,3}\.\d\d%  created ", cli("models", "list"), re.M)
    assert re.search(r"^active model: \S+ \(accuracy \d{1,3}\.\d%\)$", cli("status"), re.M)
