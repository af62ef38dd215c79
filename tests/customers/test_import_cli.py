"""`guanxi import customers` / `guanxi export customers`: in-process, and as a real process killed half-way."""

from __future__ import annotations

import csv
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from guanxi import cli
from guanxi.core.context import workspace_context
from guanxi.customers.models import Customer

ROOT = Path(__file__).resolve().parents[2]


def write_csv(path: Path, n: int, encoding="gb18030") -> Path:
    with path.open("w", encoding=encoding, newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["姓名", "手机", "邮箱", "城市"])
        for i in range(n):
            w.writerow([f"客户{i}", f"139{i:08d}", f"c{i}@example.com", "上海"])
        w.writerow(["", "13700000000", "", ""])  # rejected: no name
    return path


def test_cli_import_prints_counts_and_rejected_file(world, tmp_path, capsys):
    f = write_csv(tmp_path / "客户.csv", 30)
    rc = cli.main(["import", "customers", str(f), "--workspace", world.ws_a.slug, "--json"])
    out = json.loads(capsys.readouterr().out)
    assert rc == 0
    assert (out["created"], out["rejected"], out["skipped"]) == (30, 1, 0)
    assert Path(out["rejected_file"]).read_text(encoding="utf-8-sig").count("\n") == 2
    with workspace_context(world.ws_a):
        assert Customer.objects.count() == 30
        assert set(Customer.objects.values_list("owner_id", flat=True)) == {world.olivia.user_id}
    rc = cli.main(["import", "customers", str(f), "--workspace", world.ws_a.slug, "--json"])
    out = json.loads(capsys.readouterr().out)
    assert (out["created"], out["skipped"]) == (0, 30)


def test_cli_import_refuses_missing_name_column_naming_it(world, tmp_path, capsys):
    f = tmp_path / "x.csv"
    f.write_text("手机,邮箱\n13800138000,a@b.cn\n", encoding="utf-8")
    rc = cli.main(["import", "customers", str(f), "--workspace", world.ws_a.slug, "--json"])
    out = json.loads(capsys.readouterr().out)
    assert rc == 1 and "name" in out["fields"][0]["field"]
    with workspace_context(world.ws_a):
        assert not Customer.objects.exists()


def test_cli_export_acts_as_the_given_user_with_masking(world, tmp_path, capsys):
    with workspace_context(world.ws_a):
        Customer.objects.create(name="李四", phone="+8613900139000", owner=world.sue.user)
    out = tmp_path / "out.csv"
    rc = cli.main(["export", "customers", "--workspace", world.ws_a.slug, "--user", "sam", "--format", "csv",
                   "--output", str(out), "--filter", "q=李"])  # fmt: skip
    assert rc == 0
    text = out.read_text(encoding="utf-8-sig")
    assert "李四" in text and "139****9000" in text and "+8613900139000" not in text
    rc = cli.main(
        ["export", "customers", "--workspace", world.ws_a.slug, "--output", str(out), "--filter", "bad"]
    )
    assert rc == 1


@pytest.mark.skipif(
    os.environ.get("GUANXI_DATABASE_URL", "").startswith("postgres"),
    reason="needs SQLite: reads the SQLite file",
)
def test_killing_the_import_process_midway_then_rerunning_loses_and_doubles_nothing(tmp_path):
    """A real `guanxi import customers` process, SIGKILLed after its first committed chunks, then run again."""
    n = 40_000
    f = write_csv(tmp_path / "big.csv", n)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST")}
    env.update(GUANXI_DATA_DIR=str(tmp_path / "data"), GUANXI_DATABASE_URL="", GUANXI_REDIS_URL="")
    guanxi = [sys.executable, "-m", "guanxi"]

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [*guanxi, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
        )

    run("migrate")
    assert (
        run(
            "workspace", "create", "--name", "Kill Test", "--owner", "kim", "--password", "Kill-Test-2026!"
        ).returncode
        == 0
    )
    db = tmp_path / "data" / "guanxi.sqlite3"
    proc = subprocess.Popen([*guanxi, "import", "customers", str(f), "--workspace", "kill-test"], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)  # fmt: skip
    deadline = time.monotonic() + 120
    done = 0
    while time.monotonic() < deadline and proc.poll() is None:
        with sqlite3.connect(db, timeout=10) as con:
            try:
                done = con.execute("SELECT COALESCE(MAX(next_row), 0) FROM customers_importjob").fetchone()[0]
            except sqlite3.OperationalError:
                done = 0
        if done > 0:
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert 0 < done < n + 1, "the import finished before it could be killed: make the file bigger"
    res = run("import", "customers", str(f), "--workspace", "kill-test", "--json")
    assert res.returncode == 0, res.stdout + res.stderr
    out = json.loads(res.stdout)
    assert out["resumed"] is True
    assert (out["created"], out["rejected"], out["skipped"]) == (n, 1, 0)
    with sqlite3.connect(db) as con:
        assert con.execute("SELECT COUNT(*), COUNT(DISTINCT name) FROM customers_customer").fetchone() == (
            n,
            n,
        )
        assert con.execute("SELECT COUNT(*) FROM customers_customerphone").fetchone()[0] == n
        assert (
            con.execute("SELECT COUNT(*) FROM ledger_auditevent WHERE action='customer.import'").fetchone()[0]
            == 1
        )
