#!/usr/bin/env python3
"""The two commands a newcomer needs, on a machine with only Python 3.11 and the package registries.

    python3 dev.py run    # venv + install + migrate + demo data + serve (embedded mode), prints URL and login
    python3 dev.py test   # venv + install + the whole test suite

Everything is set up inside ./.venv; a second run reuses it and reinstalls only when pyproject.toml changed.
Extra arguments after `run` go to `guanxi serve`, after `test` to pytest.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
STAMP = VENV / ".guanxi-installed"


def _say(msg: str) -> None:
    print(f"[guanxi] {msg}", flush=True)


def ensure_venv() -> None:
    if sys.version_info < (3, 11):  # noqa: UP036 - dev.py may be started by an older python3
        sys.exit("Guanxi needs Python 3.11 or newer / 需要 Python 3.11 或更高版本")
    if not (BIN / "python").exists():
        _say("creating virtual environment .venv / 创建虚拟环境")
        venv.EnvBuilder(with_pip=True).create(VENV)
    want = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    if not STAMP.exists() or STAMP.read_text().strip() != want:
        _say("installing dependencies (first run takes about a minute) / 安装依赖")
        pip = [str(BIN / "python"), "-m", "pip", "install", "--disable-pip-version-check", "-q"]
        subprocess.check_call([*pip, "--upgrade", "pip"])
        subprocess.check_call([*pip, "-e", f"{ROOT}[dev]"])
        STAMP.write_text(want)
    subprocess.check_call([str(BIN / "guanxi"), "compilemessages", "--quiet"], cwd=ROOT)


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in {"run", "test", "setup"}:
        print(__doc__)
        return 2
    ensure_venv()
    cmd, rest = argv[0], argv[1:]
    if cmd == "setup":
        return 0
    if cmd == "run":
        return subprocess.call([str(BIN / "guanxi"), "demo", "--serve", *rest], cwd=ROOT)
    rc = subprocess.call([str(BIN / "python"), "-m", "pytest", *rest], cwd=ROOT)
    if rc == 5:
        print("[guanxi] pytest ran no test: that is a failure / 没有运行任何测试", file=sys.stderr)
        return 1
    return rc


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except KeyboardInterrupt:
        sys.exit(130)
