"""The run's dbt launcher (lib/dbt_launcher.py): dbt through it is dbt (same output, same exit status), and no dbt
it forked outlives what started it, whether the client is killed, interrupted or the launcher itself dies. Real
processes and real signals; the mechanism tests give the launcher a stand-in for dbt's command line that waits."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import psutil
import pytest

from junheng.lib import dbt_state
from junheng.lib.dbt_launcher import CLIENT, DbtLauncher

pytestmark = pytest.mark.skipif(not dbt_state.SETPRIV, reason="no setpriv: loads run plain dbt")


def _wait(predicate, timeout: float = 10.0) -> bool:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


def test_dbt_through_the_launcher_is_dbt(tmp_path):
    """The bound wrapper with the run's launcher in its environment: the same output and exit status as plain dbt,
    and the launcher ran each of them (it counts what it forked)."""
    launcher = DbtLauncher()
    try:
        env = {**os.environ, **launcher.env()}
        plain_env = {k: v for k, v in os.environ.items() if k != "JUNHENG_DBT_LAUNCHER"}
        for args in (["--version"], ["no-such-command"]):
            via = subprocess.run([dbt_state.DBT_EXECUTABLE, *args], capture_output=True, text=True, env=env,
                                 cwd=tmp_path, timeout=120)
            plain = subprocess.run([dbt_state.DBT, *args], capture_output=True, text=True, env=plain_env,
                                   cwd=tmp_path, timeout=120)
            assert via.returncode == plain.returncode, (args, via.stderr)
            assert via.stdout == plain.stdout and via.stderr == plain.stderr, args
        assert launcher.reap() == 2
    finally:
        launcher.stop()
    assert launcher.process.poll() is not None and not Path(launcher.socket).exists()


WAITING_LAUNCHER = textwrap.dedent("""
    import sys, time
    from junheng.lib.dbt_launcher import serve

    def run(request):  # a dbt that takes its time, ends 130 on Ctrl-C, as dbt does
        try:
            time.sleep(120)
        except KeyboardInterrupt:
            return 130
        return 0

    serve(sys.argv[1], run=run, preload=(), warm_up=None)
""")


@contextlib.contextmanager
def _stand_in_launcher(script: str, sock: str):
    """A launcher process running `script` (serve() with a stand-in for dbt) on `sock`, killed afterwards."""
    proc = subprocess.Popen([sys.executable, "-c", script, sock])
    try:
        assert _wait(lambda: Path(sock).exists())
        yield proc
    finally:
        proc.kill()
        proc.wait()


@pytest.fixture
def waiting_launcher(tmp_path):
    sock = str(tmp_path / "l.sock")
    with _stand_in_launcher(WAITING_LAUNCHER, sock) as proc:
        yield proc, sock


def _client(sock: str, *args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-S", "-I", str(CLIENT), "/bin/echo", *args],
                            env={**os.environ, "JUNHENG_DBT_LAUNCHER": sock}, stdout=subprocess.PIPE, text=True)


def _forked(launcher: subprocess.Popen) -> list[psutil.Process]:
    return [p for p in psutil.Process(launcher.pid).children() if p.status() != psutil.STATUS_ZOMBIE]


QUICK_LAUNCHER = textwrap.dedent("""
    import sys
    from junheng.lib.dbt_launcher import serve

    serve(sys.argv[1], run=lambda request: 3, preload=(), warm_up=None, poll=3600)  # a dbt that ends at once, 3
""")


def test_a_dbt_that_ended_is_reported_to_its_client_at_once(tmp_path):
    """The launcher wakes when a child ends (its pidfd), not only on its poll: with an hour between polls, each
    client still hears its dbt's exit status at once (before, every dbt's end waited ~0.25 s for the poll)."""
    sock = str(tmp_path / "q.sock")
    with _stand_in_launcher(QUICK_LAUNCHER, sock):
        for _ in range(3):
            client = _client(sock, "build")
            assert client.wait(timeout=20) == 3


def test_a_killed_client_takes_its_dbt_with_it(waiting_launcher):
    launcher, sock = waiting_launcher
    client = _client(sock, "build")
    assert _wait(lambda: len(_forked(launcher)) == 1)
    (child,) = _forked(launcher)
    client.kill()  # as the load's step kills dbt (or the kernel kills it with the load)
    client.wait()
    assert _wait(lambda: not child.is_running() or child.status() == psutil.STATUS_ZOMBIE)
    assert _wait(lambda: not _forked(launcher))


def test_ctrl_c_reaches_dbt_and_its_exit_status_comes_back(waiting_launcher):
    launcher, sock = waiting_launcher
    client = _client(sock, "build")
    assert _wait(lambda: len(_forked(launcher)) == 1)
    client.send_signal(signal.SIGINT)  # dagster-dbt interrupts dbt this way when a run is cancelled
    assert client.wait(timeout=10) == 130
    assert client.stdout.read() == ""  # dbt's stream was the launcher's child's, not /bin/echo's


def test_a_dead_launcher_takes_its_dbt_with_it(waiting_launcher):
    launcher, sock = waiting_launcher
    client = _client(sock, "build")
    assert _wait(lambda: len(_forked(launcher)) == 1)
    (child,) = _forked(launcher)
    launcher.kill()  # as the kernel does when the load dies (pdeathsig)
    assert _wait(lambda: not child.is_running() or child.status() == psutil.STATUS_ZOMBIE)
    assert client.wait(timeout=10) != 0  # the client says dbt did not finish


def test_without_a_launcher_the_client_is_plain_dbt(tmp_path):
    """No launcher answering (none started, or gone): the client execs the dbt it was given."""
    client = _client(str(tmp_path / "nobody.sock"), "plain", "dbt")
    assert client.communicate(timeout=10)[0] == "plain dbt\n" and client.returncode == 0


WARM_UP = textwrap.dedent("""
    import json, os, sys, threading
    import psutil
    from junheng.lib import dbt_launcher, dbt_state

    before = dict(os.environ)
    state = dbt_state.PARTIAL_PARSE.stat().st_mtime_ns
    ok = dbt_launcher._warm_up()
    print(json.dumps({"ok": ok, "env_kept": dict(os.environ) == before, "threads": threading.active_count(),
                      "open_files": [f.path for f in psutil.Process().open_files()],
                      "state_kept": dbt_state.PARTIAL_PARSE.stat().st_mtime_ns == state}))
""")


def test_the_launchers_warm_up_parses_and_leaves_nothing_a_fork_could_inherit():
    """The launcher parses the project once before it forks (so each dbt starts ~1.3 s sooner): the parse succeeds
    from the kept state, and leaves no thread, no open file and no changed environment behind, nor a changed state."""
    from junheng.defs.dbt.assets import ensure_manifest

    ensure_manifest()  # the kept partial-parse state the warm-up starts from
    out = subprocess.run([sys.executable, "-c", WARM_UP], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout.strip().splitlines()[-1]) == {
        "ok": True, "env_kept": True, "threads": 1, "open_files": [], "state_kept": True}


LAUNCHED_PARSE = textwrap.dedent("""
    import os, subprocess, sys
    from junheng.lib import dbt_state
    from junheng.lib.dbt_launcher import DbtLauncher

    project, target = sys.argv[1], sys.argv[2]
    launcher = DbtLauncher()
    try:
        env = {**os.environ, **launcher.env(), "JUNHENG_DBT_DATABASE": os.path.join(target, "w.duckdb")}
        done = subprocess.run([dbt_state.DBT_EXECUTABLE, "parse", "--project-dir", project, "--profiles-dir", project,
                               "--target-path", target, "--log-path", target], env=env, capture_output=True)
        assert done.returncode == 0, done.stdout[-2000:]
        assert launcher.reap() == 1  # the launcher ran it
    finally:
        launcher.stop()
""")


def test_a_load_with_the_launcher_prints_no_leaked_semaphore_warning(tmp_path):
    """dbt's locks come from a 'spawn' context: named semaphores that a dbt ending with os._exit never unregisters,
    so the resource tracker warned of them on the load's console when the launcher ended. The launcher gives dbt a
    'fork' context. The script's stderr is read to its end, which is also the tracker's end."""
    out = subprocess.run([sys.executable, "-c", LAUNCHED_PARSE, str(dbt_state.DBT_PROJECT_DIR), str(tmp_path)],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "leaked semaphore" not in out.stderr, out.stderr[-3000:]


def test_a_launcher_started_early_is_handed_to_one_run_and_otherwise_stopped():
    """`junheng run` starts the launcher before its imports (start_early); the run's dbt resource takes it, once; a
    launcher that died meanwhile is not handed out; one that no run took is stopped at exit (_stop_early)."""
    from junheng.lib import dbt_launcher

    dbt_launcher.start_early()
    first = dbt_launcher._early
    dbt_launcher.start_early()  # a second call starts no second launcher
    assert dbt_launcher._early is first
    taken = dbt_launcher.take_early()
    try:
        assert taken is first and taken.process.poll() is None
        assert dbt_launcher.take_early() is None
    finally:
        taken.stop()

    dbt_launcher.start_early()
    dead = dbt_launcher._early
    dead.process.kill()
    dead.process.wait()
    assert dbt_launcher.take_early() is None and dbt_launcher._early is None
    assert not Path(dead.socket).exists()  # the dead one's socket is removed

    dbt_launcher.start_early()
    unused = dbt_launcher._early
    dbt_launcher._stop_early()
    assert unused.process.poll() is not None and dbt_launcher._early is None
