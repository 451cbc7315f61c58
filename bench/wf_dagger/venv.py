"""The seed engine's own virtualenv: created once per requirements.txt, outside the repository.

python -m bench.wf_dagger.venv      # create or reuse it; prints its python
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

REQUIREMENTS = Path(__file__).with_name("requirements.txt")
INSTALL_TIMEOUT_S = 900


class VenvError(RuntimeError):
    """The virtualenv could not be created; the message names the step and its log."""


def cache_dir() -> Path:
    return Path(os.environ.get("DAGGER_CACHE", Path.home() / ".cache" / "dagger"))


def location(cache: Path) -> Path:
    return cache / "bench-wf-dagger-venv"


def python_of(venv: Path) -> Path:
    return venv / "bin" / "python"


def _digest() -> str:
    return hashlib.sha256(REQUIREMENTS.read_bytes()).hexdigest()


def is_current(venv: Path) -> bool:
    stamp = venv / ".requirements-sha256"
    return python_of(venv).exists() and stamp.exists() and stamp.read_text().strip() == _digest()


def _step(argv: list[str], log: Path, what: str) -> None:
    with open(log, "a", encoding="utf-8") as out:
        out.write(f"$ {' '.join(argv)}\n")
        out.flush()
        try:
            subprocess.run(
                argv, stdout=out, stderr=subprocess.STDOUT, check=True, timeout=INSTALL_TIMEOUT_S
            )
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
            raise VenvError(f"{what} failed ({exc}); see {log}") from exc


def ensure(cache: Path, log: Path) -> Path:
    """The python of an up-to-date virtualenv with requirements.txt installed, made if needed."""
    venv = location(cache)
    if is_current(venv):
        return python_of(venv)
    shutil.rmtree(venv, ignore_errors=True)
    log.parent.mkdir(parents=True, exist_ok=True)
    log.write_text("")
    # The project interpreter's base Python, so the seed engine runs on the same version.
    _step([sys.executable, "-m", "venv", str(venv)], log, "creating the virtualenv")
    pip = [str(python_of(venv)), "-m", "pip", "--disable-pip-version-check", "--quiet"]
    _step([*pip, "install", "--requirement", str(REQUIREMENTS)], log, "installing wf-dagger")
    (venv / ".requirements-sha256").write_text(_digest() + "\n")
    return python_of(venv)


if __name__ == "__main__":
    cache = cache_dir()
    print(ensure(cache, cache / "bench-logs" / "wf_dagger-venv.log"))
