"""`dbt` as the load's dbt launcher runs it (lib/dbt_launcher.py). Standard library only: it runs as
`python -S -I dbt_launcher_client.py <dbt executable> <dbt arguments>` (a few milliseconds to start).

It hands the launcher its arguments, environment, working directory and standard streams, forwards SIGINT and
SIGTERM to the dbt the launcher forked for it, and exits with that dbt's exit status. Without a launcher to answer
(none running, or it died before forking), it becomes plain dbt (exec), so a dbt command never fails for want of one.
"""

import json
import os
import signal
import socket
import sys


def main() -> None:
    dbt, args = sys.argv[1], sys.argv[2:]
    try:
        conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        conn.connect(os.environ["JUNHENG_DBT_LAUNCHER"])
        request = {"argv": ["dbt", *args], "env": dict(os.environ), "cwd": os.getcwd()}
        socket.send_fds(conn, [json.dumps(request).encode() + b"\n"], [0, 1, 2])
        replies = conn.makefile("rb")
        started = replies.readline()  # b"pid N": the launcher forked dbt
    except (KeyError, OSError):
        started = b""
    if not started.startswith(b"pid "):
        os.execv(dbt, [dbt, *args])
    pid = int(started.split()[1])

    def forward(signum, _frame):
        try:
            os.kill(pid, signum)
        except ProcessLookupError:
            pass

    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, forward)
    ended = replies.readline()  # b"exit N" (N < 0: dbt was killed by signal -N)
    if not ended.startswith(b"exit "):
        sys.exit(1)  # the launcher died: its pdeathsig took dbt with it
    code = int(ended.split()[1])
    if code < 0:
        signal.signal(-code, signal.SIG_DFL)
        os.kill(os.getpid(), -code)
    sys.exit(code)


if __name__ == "__main__":
    main()
