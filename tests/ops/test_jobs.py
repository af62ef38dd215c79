"""Scaled mode: a job enqueued with transaction.on_commit runs in a real `guanxi worker` process on Redis."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import time

import pytest
from django.core.cache import cache
from django.db import transaction
from huey.contrib.djhuey import HUEY

from guanxi.core.tasks import ECHO_KEY, worker_echo
from tests.ops.helpers import ROOT, needs_redis, sub_env

pytestmark = [needs_redis, pytest.mark.scaled]


@pytest.fixture
def queued():
    """Huey as production has it (tests run it immediate), on this run's own Redis db, emptied first."""
    assert HUEY.__class__.__name__ == "RedisHuey"
    HUEY.immediate = False
    HUEY.flush()
    yield HUEY
    HUEY.flush()
    HUEY.immediate = True


@pytest.fixture
def worker(queued):
    proc = subprocess.Popen(
        [sys.executable, "-m", "guanxi", "worker", "--workers", "1"],
        cwd=ROOT,
        env=sub_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    yield proc
    proc.terminate()
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()


def _wait_for(key: str, proc: subprocess.Popen, timeout: float = 30) -> object:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = cache.get(key)
        if value is not None:
            return value
        if proc.poll() is not None:
            pytest.fail(f"guanxi worker exited with {proc.returncode}: {proc.stdout.read().decode()[-2000:]}")
        time.sleep(0.1)
    pytest.fail(f"no worker ran the job within {timeout} s")


def test_a_rolled_back_transaction_enqueues_nothing(queued, transactional_db):
    token = secrets.token_hex(8)
    with pytest.raises(RuntimeError), transaction.atomic():
        transaction.on_commit(lambda: worker_echo(token))
        raise RuntimeError("the service failed")
    assert queued.pending_count() == 0
    with transaction.atomic():
        transaction.on_commit(lambda: worker_echo(token))
    assert queued.pending_count() == 1  # the same code, committed, does enqueue


def test_a_job_enqueued_on_commit_runs_in_a_worker_process(worker, transactional_db):
    rolled_back, committed = secrets.token_hex(8), secrets.token_hex(8)
    with pytest.raises(RuntimeError), transaction.atomic():
        transaction.on_commit(lambda: worker_echo(rolled_back))
        raise RuntimeError("the service failed")
    with transaction.atomic():
        transaction.on_commit(lambda: worker_echo(committed))
    pid = _wait_for(ECHO_KEY.format(token=committed), worker)
    assert pid == worker.pid and pid != os.getpid()
    # One worker, one FIFO queue: had the rolled-back job been enqueued, it would have run first.
    assert cache.get(ECHO_KEY.format(token=rolled_back)) is None


def test_guanxi_check_jobs_sees_the_worker(worker):
    out = subprocess.run(
        [sys.executable, "-m", "guanxi", "check", "--jobs", "--json"],
        cwd=ROOT,
        env=sub_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    assert '"mode": "scaled"' in out.stdout or '"redis": true' in out.stdout
