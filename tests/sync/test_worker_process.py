"""`microcred worker` processes: a worker killed mid-delivery loses nothing; SIGTERM stops one
gracefully. And the sync/connections CLI commands."""

from __future__ import annotations

import json
import os
import signal
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
import requests
from click.testing import CliRunner

from lti_tool.cli import main
from lti_tool.models.sync import DEAD, DELIVERED
from lti_tool.sync.engine import Engine
from tests.conftest import SECRET_KEY, TOOL_URL

from .conftest import SECRET, Receiver, WorkerStarter, World, drain, wait_for


@pytest.fixture
def worker_env(world_env: dict[str, str]) -> dict[str, str]:
    return {
        **os.environ,
        **world_env,
        "MICROCRED_SYNC_LEASE_SECONDS": "2",
        "MICROCRED_SYNC_POLL_INTERVAL": "0.05",
        "MICROCRED_SYNC_DELAY_SCALE": "0.00001",
    }


@pytest.fixture
def world_env(tmp_path: Path) -> dict[str, str]:
    return {
        "MICROCRED_SECRET_KEY": SECRET_KEY,
        "MICROCRED_PUBLIC_URL": TOOL_URL,
        "MICROCRED_INSTANCE_PATH": str(tmp_path),
    }


@pytest.fixture
def spawn(
    worker_env: dict[str, str], start_worker: WorkerStarter
) -> Callable[[str], subprocess.Popen[str]]:
    return lambda database_url: start_worker(
        {**worker_env, "MICROCRED_DATABASE_URL": database_url}, 1
    )


def test_a_worker_killed_mid_delivery_loses_nothing_and_sends_no_second_copy(
    make_world: Callable[[int], World],
    receiver: Receiver,
    spawn: Callable[[str], subprocess.Popen[str]],
    outbox: None,
) -> None:
    world = make_world(1)
    world.connect(receiver.url)
    receiver.hang_first = True  # applies the event, then never answers
    world.award(1)

    first = spawn(world.database.url)
    if not receiver.first_arrived.wait(20):
        first.kill()
        pytest.fail(f"the first worker never sent the event:\n{first.communicate()[0]}")
    first.send_signal(signal.SIGKILL)
    first.wait(10)
    (row,) = world.deliveries()
    assert row.status == "in_flight"  # leased by a worker that no longer exists

    second = spawn(world.database.url)
    wait_for(lambda: world.count(DELIVERED) == 1, timeout=20, what="the takeover")
    (row,) = world.deliveries()
    assert row.attempts == 2
    assert receiver.seen == [row.idempotency_key] * 2  # same webhook-id both times
    assert len(receiver.applied) == 1 and receiver.duplicates == 1

    second.send_signal(signal.SIGTERM)
    output, _ = second.communicate(timeout=20)
    assert second.returncode == 0, output
    assert "Worker stopped." in output


def test_cli_connections_and_sync_commands(
    make_world: Callable[[int], World],
    receiver: Receiver,
    engine: Engine,
    world_env: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    world = make_world(2)
    for name, value in {**world_env, "MICROCRED_DATABASE_URL": world.database.url}.items():
        monkeypatch.setenv(name, value)
    cli = CliRunner()

    added = cli.invoke(
        main,
        [
            "connections", "add", "--platform-id", str(world.platform_id),
            "--connector", "webhook", "--name", "HR hooks",
            "--setting", f"url={receiver.url}", "--setting", "timeout=2",
        ],
        env={"MICROCRED_CONNECTION_SECRETS": json.dumps({"secrets": [SECRET]})},
    )  # fmt: skip
    assert added.exit_code == 0, added.output
    assert SECRET not in added.output

    bad = cli.invoke(
        main,
        ["connections", "add", "--platform-id", str(world.platform_id), "--connector",
         "webhook", "--name", "x", "--setting", f"secrets=[\"{SECRET}\"]",
         "--setting", f"url={receiver.url}"],
    )  # fmt: skip
    assert bad.exit_code == 2 and "must be given as secrets" in bad.output
    assert SECRET not in bad.output

    listed = cli.invoke(main, ["connections", "list", "--json"])
    assert listed.exit_code == 0, listed.output
    (item,) = json.loads(listed.output)
    assert item["has_secrets"] is True and item["state"] == "ok"
    assert SECRET not in listed.output
    connection_id = str(item["id"])

    tested = cli.invoke(main, ["connections", "test", connection_id])
    assert tested.exit_code == 0, tested.output
    assert tested.output.startswith("delivered")

    assert cli.invoke(main, ["connections", "pause", connection_id]).exit_code == 0
    world.award(2)
    status = cli.invoke(main, ["sync", "status", "--json"])
    assert status.exit_code == 0, (status.output, status.exception)
    (row,) = json.loads(status.output)
    assert (row["state"], row["deliveries"]) == ("paused", {"pending": 2})
    assert drain_count(engine) == 0  # paused: nothing goes out

    assert cli.invoke(main, ["connections", "resume", connection_id]).exit_code == 0
    receiver.mode = 422
    drain(engine, world)
    text = cli.invoke(main, ["sync", "status"]).output
    assert "dead=2" in text and "HR hooks" in text

    receiver.mode = "ok"
    replayed = cli.invoke(main, ["sync", "replay", "--dead", "--connection", connection_id])
    assert replayed.exit_code == 0 and "Replaying 2" in replayed.output
    drain(engine, world)
    assert world.count(DELIVERED) == 2 and len(receiver.applied) == 2


def drain_count(engine: Engine) -> int:
    with requests.Session() as http:
        return engine.step("cli-test", http, limit=10)


def test_identity_mapping_table_imported_from_csv(
    make_world: Callable[[int], World],
    receiver: Receiver,
    engine: Engine,
    world_env: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    world = make_world(2)
    for name, value in {**world_env, "MICROCRED_DATABASE_URL": world.database.url}.items():
        monkeypatch.setenv(name, value)
    connection_id = str(world.connect(receiver.url, identity_mapping="table"))
    world.award(2)
    drain(engine, world)
    assert world.count(DEAD) == 2  # nobody is mapped yet
    assert all("identity mapping" in (d.last_detail or "") for d in world.deliveries())

    cli = CliRunner()
    bad = tmp_path / "bad.csv"
    bad.write_text("sub,external_id\nlearner-0,\n")
    result = cli.invoke(main, ["connections", "import-mapping", connection_id, str(bad)])
    assert result.exit_code == 2 and "line 2" in result.output

    good = tmp_path / "map.csv"
    good.write_text("sub,external_id\nlearner-0,W-1000\nlearner-1,W-1001\n")
    result = cli.invoke(main, ["connections", "import-mapping", connection_id, str(good)])
    assert result.exit_code == 0 and "Imported 2" in result.output
    assert cli.invoke(main, ["sync", "replay", "--dead"]).exit_code == 0
    drain(engine, world)
    assert world.count(DELIVERED) == 2
    assert len(receiver.applied) == 2
    mapped = sorted(body["data"]["learner"]["hr_ids"]["mapped_id"] for body in receiver.bodies)
    assert mapped == ["W-1000", "W-1001"]
