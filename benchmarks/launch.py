"""Launch benchmark: full LTI 1.3 login + launch flows against `microcred serve --workers 2`.

Starts a real TestPlatform (JWKS on loopback), a fresh SQLite instance in a temp folder,
registers the platform with `microcred platforms add`, serves the tool with gunicorn and drives
it with a closed-loop load generator (separate processes, see `benchmarks/loadgen.py`) at
several concurrencies. A launch counts only if the landing page is 200 and names the learner.

With `--peer-dir` (or MICROCRED_BENCH_PEER_DIR) pointing at a checkout of
dmitry-viskov/pylti1.3-flask-example, the same generator drives that example too, on its own
dev server (`python app.py`) and under gunicorn with 2 workers. Its tree is copied to a temp
folder and only its config is changed there (our platform added, loopback host/port); the
checkout itself is never modified. Its requirements must be installed in a separate
environment given by `--peer-python` (or MICROCRED_BENCH_PEER_PYTHON).

    python -m benchmarks.launch [--duration 8] [--peer-dir /tmp/peer --peer-python ...]
"""

from __future__ import annotations

import argparse
import json
import logging
import multiprocessing
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.loadgen import (
    Flow,
    Job,
    PlatformSpec,
    ProcessReport,
    Target,
    generator_process,
    summarize,
)
from lti_tool.testplatform import TestPlatform
from lti_tool.testplatform.platform import ROLE_LEARNER

REPO = Path(__file__).resolve().parent.parent
PEER_NAME = "pylti1.3-flask-example"
PEER_CHANGES = (
    "configs/game.json: one registration added for the benchmark's TestPlatform "
    "(issuer, client_id, auth/token/JWKS URLs, deployment id; key_set null, the shipped "
    "private.key/public.key); app.py: app.run host/port set to 127.0.0.1:<free port> "
    "(shipped: 0.0.0.0:9001). Everything else as shipped (DEBUG=True with reloader on its "
    "own server, Flask-Caching 'simple' per-process cache, JWKS fetched on every launch, "
    "launch data pprinted). The generator sends lti1p3_new_window=1 on login, i.e. it skips "
    "the JS cookie-check page the peer serves first (one request fewer for the peer)."
)


@dataclass
class Level:
    target: Target
    concurrency: int
    summary: dict[str, Any]
    seconds: float
    gen_cpu: float  # generator CPU seconds over the window, all processes
    gen_procs: int
    server_cpu: float  # server process tree CPU seconds over the window
    platform_cpu: float  # this process (TestPlatform JWKS server) over the window
    machine_cpu: float  # all processes on the machine over the window (/proc/stat)

    @property
    def other_cpu(self) -> float:
        """CPU seconds used by processes outside this benchmark (a noisy machine)."""
        return max(0.0, self.machine_cpu - self.server_cpu - self.gen_cpu - self.platform_cpu)


# -- small helpers ------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_http(url: str, proc: subprocess.Popen[bytes], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode} before {url} answered")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer within {timeout} s")


def _tree(pid: int) -> list[int]:
    """pid and its descendants (from /proc)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
    out, todo = [], [pid]
    while todo:
        current = todo.pop()
        out.append(current)
        todo.extend(children.get(current, []))
    return out


def tree_cpu(pids: list[int]) -> float:
    """CPU seconds (user + system) of these processes."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / ticks
    return total


def self_cpu() -> float:
    return time.process_time()


def machine_cpu() -> float:
    """Busy CPU seconds of the whole machine since boot (user+nice+system+irq+softirq)."""
    fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    user, nice, system, _idle, _iowait, irq, softirq = (int(x) for x in fields[:7])
    return (user + nice + system + irq + softirq) / os.sysconf("SC_CLK_TCK")


@contextmanager
def served(cmd: list[str], *, cwd: Path, env: dict[str, str], log: Path) -> Iterator[Any]:
    with log.open("wb") as out:
        proc = subprocess.Popen(
            cmd, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
        try:
            yield proc
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
                try:
                    proc.wait(20)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait()


def make_platform(tool_url: str, members: int, name: str) -> TestPlatform:
    platform = TestPlatform(tool_url=tool_url, name=name).serve()
    for i in range(members):
        platform.add_member(f"learner-{i:04d}", f"Learner{i:04d} Bench", [ROLE_LEARNER])
    return platform


# -- the measuring loop -------------------------------------------------------------------


def run_level(
    target: Target,
    platform: TestPlatform,
    concurrency: int,
    args: argparse.Namespace,
    server_pid: int,
) -> Level:
    procs_n = 1 if concurrency == 1 else min(args.gen_procs, concurrency)
    ctx = multiprocessing.get_context("spawn")
    spec = PlatformSpec.of(platform)
    workers: list[tuple[Any, Any]] = []
    first = 0
    for i in range(procs_n):
        threads = concurrency // procs_n + (1 if i < concurrency % procs_n else 0)
        job = Job(target, spec, threads, first, concurrency, args.warmup, args.duration)
        first += threads
        parent, child = ctx.Pipe()
        proc = ctx.Process(target=generator_process, args=(job, child), daemon=True)
        proc.start()
        workers.append((proc, parent))
    for _, pipe in workers:
        pipe.recv()  # ready
    t_go = time.monotonic() + 0.2
    for _, pipe in workers:
        pipe.send(t_go)
    warm_end = t_go + args.warmup
    end = warm_end + args.duration
    time.sleep(max(0.0, warm_end - time.monotonic()))
    pids = _tree(server_pid)
    server_start, platform_start, machine_start = tree_cpu(pids), self_cpu(), machine_cpu()
    time.sleep(max(0.0, end - time.monotonic()))
    server_cpu = tree_cpu(pids) - server_start
    platform_cpu = self_cpu() - platform_start
    machine = machine_cpu() - machine_start
    flows: list[Flow] = []
    gen_cpu = 0.0
    for proc, pipe in workers:
        report: ProcessReport = pipe.recv()
        proc.join(10)
        if report.setup_error:
            raise RuntimeError(f"generator set-up failed: {report.setup_error}")
        flows.extend(report.flows)
        gen_cpu += report.cpu_seconds
    summary = summarize(flows, args.duration)
    level = Level(
        target,
        concurrency,
        summary,
        args.duration,
        gen_cpu,
        procs_n,
        server_cpu,
        platform_cpu,
        machine,
    )
    print_row(level)
    return level


def run_levels(
    target: Target, platform: TestPlatform, args: argparse.Namespace, server_pid: int
) -> list[Level]:
    return [run_level(target, platform, c, args, server_pid) for c in args.concurrency]


# -- microcred ------------------------------------------------------------------------------


def microcred_env(instance: Path, public_url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MICROCRED_")}
    env.update(MICROCRED_INSTANCE_PATH=str(instance), MICROCRED_PUBLIC_URL=public_url)
    return env


def microcred_cmd() -> list[str]:
    script = Path(sys.executable).parent / "microcred"
    if script.exists():
        return [str(script)]
    return [sys.executable, "-c", "from lti_tool.cli import main; main()"]


def bench_microcred(args: argparse.Namespace, tmp: Path) -> list[Level]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    platform = make_platform(url, args.members, "Bench LMS")
    env = microcred_env(tmp / "instance", url)
    cli = microcred_cmd()
    subprocess.run([*cli, "db", "upgrade"], env=env, check=True, capture_output=True)
    subprocess.run(
        [
            *cli,
            "platforms",
            "add",
            "--issuer",
            platform.issuer,
            "--client-id",
            platform.client_id,
            "--auth-login-url",
            platform.auth_login_url,
            "--auth-token-url",
            platform.auth_token_url,
            "--key-set-url",
            platform.key_set_url,
            "--deployment-id",
            platform.deployment_id,
            "--name",
            platform.name,
        ],
        env=env,
        check=True,
        capture_output=True,
    )
    cmd = [*cli, "serve", "--workers", str(args.workers), "--port", str(port)]
    target = Target(
        tool="microcred",
        server=f"gunicorn -w{args.workers} (microcred serve)",
        host="127.0.0.1",
        port=port,
        login_path="/lti/login",
        launch_path="/lti/launch",
        target_link_uri=url + "/lti/launch",
    )
    try:
        with served(cmd, cwd=REPO, env=env, log=tmp / "microcred.log") as proc:
            wait_http(url + "/healthz", proc)
            return run_levels(target, platform, args, proc.pid)
    finally:
        platform.stop()


# -- the peer -------------------------------------------------------------------------------


def prepare_peer(peer_dir: Path, dest: Path, platform: TestPlatform, port: int) -> Path:
    shutil.copytree(peer_dir, dest, ignore=shutil.ignore_patterns(".git", ".venv", "__pycache__"))
    config_file = dest / "configs" / "game.json"
    config = json.loads(config_file.read_text())
    config[platform.issuer] = [
        {
            "default": True,
            "client_id": platform.client_id,
            "auth_login_url": platform.auth_login_url,
            "auth_token_url": platform.auth_token_url,
            "key_set_url": platform.key_set_url,
            "key_set": None,
            "private_key_file": "private.key",
            "public_key_file": "public.key",
            "deployment_ids": [platform.deployment_id],
        }
    ]
    config_file.write_text(json.dumps(config, indent=4))
    app = dest / "game" / "app.py"
    source = app.read_text()
    shipped = "app.run(host='0.0.0.0', port=9001)"
    if shipped not in source:
        raise RuntimeError(f"{app}: expected {shipped!r}; the peer changed, update the benchmark")
    app.write_text(source.replace(shipped, f"app.run(host='127.0.0.1', port={port})"))
    return dest / "game"


def bench_peer(args: argparse.Namespace, tmp: Path, mode: str) -> list[Level]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    platform = make_platform(url, args.members, "Bench LMS (peer)")
    game = prepare_peer(args.peer_dir, tmp / f"peer-{mode}", platform, port)
    env = dict(os.environ)
    env["PYTHONUNBUFFERED"] = "0"
    if mode == "dev":
        cmd = [args.peer_python, "app.py"]
        server = "own server (python app.py)"
    else:
        cmd = [args.peer_python, "-m", "gunicorn", "-w", str(args.workers)]
        cmd += ["-b", f"127.0.0.1:{port}", "app:app"]
        server = f"gunicorn -w{args.workers} (sync)"
    target = Target(
        tool=PEER_NAME,
        server=server,
        host="127.0.0.1",
        port=port,
        login_path="/login/",
        launch_path="/launch/",
        target_link_uri=url + "/launch/",
        login_extra=(("lti1p3_new_window", "1"),),
        follow_landing=False,
    )
    try:
        with served(cmd, cwd=game, env=env, log=tmp / f"peer-{mode}.log") as proc:
            wait_http(url + "/jwks/", proc)
            return run_levels(target, platform, args, proc.pid)
    finally:
        platform.stop()


# -- output ---------------------------------------------------------------------------------

HEADER = (
    f"{'tool':<24} {'server':<30} {'c':>3} {'launch/s':>8} {'p50':>7} {'p90':>7} {'p99':>7} "
    f"{'LL p50':>7} {'LL p99':>7} {'err':>5} {'gen CPU':>8} {'srv ms/l':>8} {'other':>6}"
)


def _ms(seconds: float) -> str:
    return "-" if seconds != seconds else f"{seconds * 1000:.1f}"  # nan -> "-"


def print_row(level: Level) -> None:
    s = level.summary
    gen = level.gen_cpu / level.seconds * 100
    srv = level.server_cpu / s["launches"] * 1000 if s["launches"] else float("nan")
    print(
        f"{level.target.tool:<24} {level.target.server:<30} {level.concurrency:>3} "
        f"{s['rate']:>8.1f} {_ms(s['p50']):>7} {_ms(s['p90']):>7} {_ms(s['p99']):>7} "
        f"{_ms(s['ll_p50']):>7} {_ms(s['ll_p99']):>7} {s['errors']:>5} {gen:>7.0f}% "
        f"{srv:>8.1f} {level.other_cpu / level.seconds * 100:>5.0f}%",
        flush=True,
    )
    if s["error_kinds"]:
        kinds = ", ".join(f"{k}: {v}" for k, v in sorted(s["error_kinds"].items()))
        print(f"{'':<24} errors: {kinds}", flush=True)


def print_summary(ours: list[Level], peers: list[Level], args: argparse.Namespace) -> None:
    print()
    print("Legend: p50/p90/p99 = whole flow in ms: login, then the launch, whose answer is the")
    print("landing page naming the learner (both tools). LL = login+launch, the same here, across")
    print(
        "tools. gen CPU = load generator CPU over wall time (100% = one core of "
        f"{os.cpu_count()}), {args.gen_procs} process(es)."
    )
    print("srv ms/l = server process tree CPU ms per successful launch. other = CPU used by")
    print("processes outside the benchmark during the window (> ~20%: a noisy run, repeat).")
    for level in ours + peers:
        s = level.summary
        if s["launches"]:
            per = level.gen_cpu / s["launches"] * 1000
            plat = level.platform_cpu / s["launches"] * 1000
            print(
                f"  {level.target.tool} / {level.target.server} c={level.concurrency}: generator "
                f"{level.gen_cpu:.2f} CPU-s in {level.seconds:.0f} s wall ({per:.2f} ms/launch), "
                f"platform (JWKS) {plat:.2f} ms/launch"
            )
    ours8 = next((lv for lv in ours if lv.concurrency == 8), None)
    if ours8 is not None:
        print()
        print(
            f"microcred at c=8: {ours8.summary['rate']:.1f} launches/s "
            f"(target >= 150), p99 {_ms(ours8.summary['p99'])} ms (target < 100)"
        )
        ours1 = next((lv for lv in ours if lv.concurrency == 1), None)
        if ours1 is not None:
            print(f"microcred at c=1: p50 {_ms(ours1.summary['p50'])} ms (target < 10)")
        for peer in peers:
            if peer.concurrency == 8 and peer.summary["rate"]:
                ratio = ours8.summary["rate"] / peer.summary["rate"]
                print(f"ratio ours/peer at c=8 vs {peer.target.server}: {ratio:.1f}x")
            elif peer.concurrency == 8:
                print(f"ratio ours/peer at c=8 vs {peer.target.server}: peer had no success")


# -- main -----------------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=8.0, help="measured seconds per level")
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds before measuring")
    parser.add_argument(
        "--concurrency",
        type=lambda v: [int(x) for x in v.split(",")],
        default=[1, 8, 32],
        help="comma-separated concurrency levels (default 1,8,32)",
    )
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers (both tools)")
    parser.add_argument("--members", type=int, default=500, help="distinct learners")
    parser.add_argument("--gen-procs", type=int, default=2, help="load generator processes")
    parser.add_argument(
        "--peer-dir",
        type=Path,
        default=os.environ.get("MICROCRED_BENCH_PEER_DIR") or None,
        help=f"checkout of dmitry-viskov/{PEER_NAME} (env MICROCRED_BENCH_PEER_DIR)",
    )
    parser.add_argument(
        "--peer-python",
        default=os.environ.get("MICROCRED_BENCH_PEER_PYTHON") or None,
        help="python with the peer's requirements and gunicorn (env MICROCRED_BENCH_PEER_PYTHON)",
    )
    parser.add_argument(
        "--only", choices=("all", "ours", "peer"), default="all", help="which tool(s) to run"
    )
    parser.add_argument("--keep", action="store_true", help="keep the temp folder (logs)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # the TestPlatform's request log
    command = " ".join(shlex.quote(a) for a in [sys.executable, "-m", "benchmarks.launch"])
    given = sys.argv[1:] if argv is None else argv
    print(f"Reproduce (from {REPO}): {command} {shlex.join(given)}".rstrip())
    print(
        f"Machine: {os.cpu_count()} CPU(s), Python {sys.version.split()[0]}; "
        f"{args.warmup:g} s warm-up + {args.duration:g} s measured per level"
    )
    tmp = Path(tempfile.mkdtemp(prefix="microcred-bench-"))
    ours: list[Level] = []
    peers: list[Level] = []
    try:
        print()
        print(HEADER)
        if args.only in ("all", "ours"):
            ours = bench_microcred(args, tmp)
        if args.only in ("all", "peer"):
            peer_ok = args.peer_dir is not None and (args.peer_dir / "game" / "app.py").exists()
            if not peer_ok:
                print(
                    f"(peer skipped: no {PEER_NAME} checkout; pass --peer-dir or set "
                    "MICROCRED_BENCH_PEER_DIR, and --peer-python)"
                )
            elif not args.peer_python:
                print("(peer skipped: pass --peer-python, a python with its requirements)")
            else:
                peers += bench_peer(args, tmp, "dev")
                peers += bench_peer(args, tmp, "gunicorn")
                print(f"Peer changes for this run: {PEER_CHANGES}")
        print_summary(ours, peers, args)
    finally:
        if args.keep:
            print(f"Logs kept in {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
