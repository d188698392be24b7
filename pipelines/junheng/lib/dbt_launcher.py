"""dbt with its imports done: one launcher process per load imports dbt once and forks a dbt for each invocation.

Each dbt invocation paid ~3.6 s of imports (dbt-core, the DuckDB adapter, the tasks) before its first node, and a load
makes three (benchmarks/results/2026-12-01-issue14-s20.md). The launcher starts with the run (the dbt resource's
set-up), so its imports overlap the run's first steps, and waits on a Unix socket. dagster-dbt still starts `dbt` as
a subprocess: the bound wrapper (lib/dbt_state.py), which runs the stdlib client (dbt_launcher_client.py) when the
environment names a launcher. The client passes its arguments, environment, working directory and standard streams;
the launcher forks a child that runs dbt's command line with them, as the `dbt` executable would, and answers with
the child's pid and, when it ends, its exit status. The client forwards SIGINT and SIGTERM to the child.
Before it forks the first, the launcher parses the project once and discards the result (`_warm_up`), so that what a
process does only the first time it parses is done before the fork, not in every dbt; each dbt still parses itself.

No dbt outlives what started it, as with plain dbt: the launcher dies with the load (PR_SET_PDEATHSIG), each child
with the launcher; a child whose client has gone (killed with the load's step) is killed, and `reap` returns only
when no child is left.
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import ctypes
import json
import os
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path

CLIENT = Path(__file__).with_name("dbt_launcher_client.py")
SOCKET_NAME = "dbt.sock"
# what `dbt build` / `dbt seed` import after the command line: measured, a dbt build imports these on its way
PRELOAD = ("dbt.cli.main", "dbt.adapters.duckdb", "dbt.adapters.duckdb.impl", "dbt.include.duckdb", "dbt.task.build",
           "dbt.task.seed", "dbt.compilation", "dbt.parser.sql", "dbt.graph.thread_pool", "sqlparse", "duckdb")
PR_SET_PDEATHSIG = 1


def _fork_context_for_dbt() -> None:
    """dbt makes its locks (the manifest's, each adapter's connections') from a 'spawn' multiprocessing context.
    Such a lock is a named semaphore that Python registers with a resource-tracker process, and a dbt that ends
    with os._exit, as every child here does, never unregisters it: when the launcher ended, the tracker printed
    "There appear to be 8 leaked semaphore objects" on the load's console. In a process that only forks, a 'fork'
    context gives the same locks unnamed, with nothing to track. dbt runs one thread here (profiles.yml) and never
    starts a process from this context. Before dbt's modules are imported: the manifest's lock factory is bound at
    import."""
    import multiprocessing

    import dbt.mp_context

    dbt.mp_context._MP_CONTEXT = multiprocessing.get_context("fork")


def _die_with_parent() -> None:
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def _exit_code(status: int) -> int:
    return -os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)


def _read_request(conn: socket.socket) -> tuple[dict, list[int]]:
    data, fds, _flags, _addr = socket.recv_fds(conn, 1 << 16, 3)
    while data and not data.endswith(b"\n"):
        more = conn.recv(1 << 16)
        if not more:
            break
        data += more
    return json.loads(data), fds


def _run_dbt(request: dict) -> int:
    """In the forked child: dbt's command line with the client's arguments, environment and directory."""
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["env"])
    sys.argv = list(request["argv"])
    from dbt.cli.main import cli

    try:
        # click's standalone mode (always ends in SystemExit); its program name would be the launcher's module
        cli(prog_name=os.path.basename(sys.argv[0]))
        code = 0
    except SystemExit as done:
        code = done.code if isinstance(done.code, int) else (0 if done.code is None else 1)
    return code


def _warm_up() -> bool:
    """A `dbt parse` of the project from the kept partial-parse state, its manifest discarded.

    A dbt forked from a process that has never parsed spends ~1.3 s of its start on what a process does only once
    (the rest of dbt's imports, the adapter plugin, Jinja and parser set-up); forked after this, it does not: a dbt
    build of the trend models on a county, 4.5 -> 3.2 s (five A/B forks each, 2026-12-02-issue14-s23.md). Each dbt
    still parses itself, with its own environment and arguments, so what it builds cannot differ. Without a kept
    state (before the first parse of a checkout) it would be a full parse: skipped, nothing is lost but the time.
    The environment is set only for the parse: the profile as a load renders it (lib/dbt_state.workdir_env); no
    log file. Usage tracking, which would start a thread before a fork, is off in dbt_project.yml.
    """
    from dbt.cli.main import dbtRunner

    from junheng.lib.dbt_state import DBT_PROJECT_DIR, PARTIAL_PARSE, workdir_env

    if not PARTIAL_PARSE.exists():
        return False
    saved = dict(os.environ)
    with tempfile.TemporaryDirectory(prefix="junheng-dbt-warm-up-") as target:
        shutil.copyfile(PARTIAL_PARSE, Path(target) / PARTIAL_PARSE.name)
        os.environ.update({**workdir_env(), "JUNHENG_DBT_DATABASE": str(Path(target) / "not-opened.duckdb")})
        try:
            project = str(DBT_PROJECT_DIR)
            return dbtRunner().invoke(["parse", "--project-dir", project, "--profiles-dir", project, "--target-path", target,
                                "--log-path", target, "--log-level-file", "none", "--quiet", "--no-write-json"]).success
        finally:
            os.environ.clear()
            os.environ.update(saved)


def serve(socket_path: str, run=_run_dbt, preload=PRELOAD, warm_up=_warm_up, poll: float = 0.5) -> None:
    """The launcher's loop. It binds first (a client that comes early waits in the backlog), then imports and warms
    up (a warm-up that fails costs only its time: each dbt parses for itself). It wakes on a request, on a client's
    end and on a child's end (its pidfd); `poll` seconds at most pass between two looks for ended children."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the load's to handle; its tear-down stops us
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(socket_path)
    listener.listen(8)
    _fork_context_for_dbt()
    for module in preload:
        __import__(module)
    if warm_up is not None:
        with contextlib.suppress(Exception):
            warm_up()
    children: dict[int, socket.socket] = {}  # pid -> the connection of the client that asked for it
    # pid -> a descriptor that becomes readable when the child ends (Linux's pidfd), so that its client hears of the
    # end at once: the poll alone (0.5 s) delayed each dbt's end by 0.25 s on average, three times a load
    exits: dict[int, int] = {}
    forked = 0

    def ended(pid: int, status: int) -> None:
        with contextlib.suppress(KeyError, OSError):
            os.close(exits.pop(pid))
        conn = children.pop(pid, None)
        if conn is not None:
            with contextlib.suppress(OSError):
                conn.sendall(b"exit %d\n" % _exit_code(status))
            conn.close()

    def reap(block: bool) -> None:
        while children:
            try:
                pid, status = os.waitpid(-1, 0 if block else os.WNOHANG)
            except ChildProcessError:
                children.clear()
                for fd in exits.values():
                    with contextlib.suppress(OSError):
                        os.close(fd)
                exits.clear()
                return
            if pid == 0:
                return
            ended(pid, status)

    while True:
        readable, _, _ = select.select([listener, *children.values(), *exits.values()], [], [], poll)
        reap(block=False)
        for conn in readable:
            if isinstance(conn, int):  # a child's pidfd: reaped above
                continue
            if conn is not listener:  # a client never writes after its request: this is its end (EOF)
                pid = next((p for p, c in children.items() if c is conn), None)
                if pid is not None:
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGKILL)
                continue
            conn, _ = listener.accept()
            try:
                request, fds = _read_request(conn)
            except (OSError, ValueError):
                conn.close()
                continue
            if request.get("reap"):  # kill every child and answer when none is left
                for pid in list(children):
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGKILL)
                reap(block=True)
                with contextlib.suppress(OSError):
                    conn.sendall(b"reaped %d\n" % forked)
                conn.close()
                continue
            pid = os.fork()
            if pid == 0:  # the child: becomes the dbt the client asked for
                code = 1
                try:
                    listener.close()
                    for other in (conn, *children.values()):
                        other.close()
                    for fd in exits.values():
                        os.close(fd)
                    _die_with_parent()
                    signal.signal(signal.SIGINT, signal.default_int_handler)  # the launcher ignores Ctrl-C; dbt not
                    for target, fd in enumerate(fds):
                        os.dup2(fd, target)
                    for fd in fds:
                        if fd > 2:
                            os.close(fd)
                    code = run(request)
                except BaseException:  # noqa: BLE001 - whatever dbt raised, as the dbt executable would print it
                    traceback.print_exc()
                finally:
                    with contextlib.suppress(Exception):
                        sys.stdout.flush()
                        sys.stderr.flush()
                    os._exit(code)
            forked += 1
            for fd in fds:
                os.close(fd)
            children[pid] = conn
            with contextlib.suppress(AttributeError, OSError):  # no pidfd (kernel before 5.3): the poll finds the end
                exits[pid] = os.pidfd_open(pid)
            with contextlib.suppress(OSError):
                conn.sendall(b"pid %d\n" % pid)


class DbtLauncher:
    """The launcher process of one run, as its parent sees it."""

    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="junheng-dbt-"))
        self.socket = str(self.dir / SOCKET_NAME)
        self.process = subprocess.Popen(
            [sys.executable, "-u", "-m", "junheng.lib.dbt_launcher", "--socket", self.socket, "--parent",
             str(os.getpid())], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
        # it binds before it imports (~0.1 s): from then on a client waits for it instead of running plain dbt
        deadline = time.monotonic() + 5
        while not os.path.exists(self.socket) and self.process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.01)

    def env(self) -> dict[str, str]:
        """What makes the wrapper hand dbt to this launcher."""
        return {"JUNHENG_DBT_LAUNCHER": self.socket} if self.process.poll() is None else {}

    def reap(self, timeout: float = 30.0) -> int | None:
        """Return when no dbt this launcher forked is running (each one still running is killed first): how many it
        has run, None when it is not running."""
        if self.process.poll() is not None:
            return None
        with contextlib.suppress(OSError, ValueError), socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
            conn.settimeout(timeout)
            conn.connect(self.socket)
            conn.sendall(json.dumps({"reap": True}).encode() + b"\n")
            return int(conn.makefile("rb").readline().split()[1])
        return None

    def stop(self) -> None:
        self.reap()
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()
        with contextlib.suppress(OSError):
            os.unlink(self.socket)
            self.dir.rmdir()


_early: DbtLauncher | None = None


def start_early() -> None:
    """Start the launcher of this process's next run now. `junheng run` calls it before it imports Dagster and the
    definitions and creates the run (~8 s on a county), so the launcher's own imports and warm-up (~4.5 s) run beside
    them on the second core instead of delaying the run's first dbt step. The run's dbt resource takes it
    (`take_early`); one that no run took is stopped at exit, and dies with this process in any case. Without
    setpriv there is no launcher (the dbt resource's rule, lib/dbt_state.py)."""
    from junheng.lib.dbt_state import SETPRIV

    global _early
    if SETPRIV and _early is None:
        _early = DbtLauncher()
        atexit.register(_stop_early)


def take_early() -> DbtLauncher | None:
    """The launcher `start_early` started, if it is still running; it is then the caller's to stop."""
    global _early
    launcher, _early = _early, None
    if launcher is not None and launcher.process.poll() is not None:
        launcher.stop()
        return None
    return launcher


def _stop_early() -> None:
    launcher = take_early()
    if launcher is not None:
        launcher.stop()


def main() -> None:
    ap = argparse.ArgumentParser(description="the load's dbt launcher (started by the dbt resource)")
    ap.add_argument("--socket", required=True)
    ap.add_argument("--parent", type=int, required=True, help="the load's pid (shown in process lists)")
    args = ap.parse_args()
    _die_with_parent()  # with the load; and each dbt it forks dies with it (the same call in the child)
    if os.getppid() != args.parent:
        return  # the load was gone before the call above
    serve(args.socket)


if __name__ == "__main__":
    main()
