"""Progress through ``logging``: lines off a terminal even when the program set up no logging,
long phases announced, and silenced by ``verbose=False`` or the ``symnas`` logger's level."""

from __future__ import annotations

import logging
import subprocess
import sys
import textwrap

import pyglove as pg

from symnas import flows

SPACE = pg.Dict(x=pg.oneof([1, 2, 3, 4]))


PROGRAM = textwrap.dedent("""
    import logging, sys
    import pyglove as pg
    from symnas import flows

    space = pg.Dict(x=pg.oneof([1, 2, 3, 4]))
    flows.search(space, lambda s: float(s["x"]), "random", 3, verbose=True)
    print("--", file=sys.stderr, flush=True)
    flows.search(space, lambda s: float(s["x"]), "random", 3, verbose=False)
    print("--", file=sys.stderr, flush=True)
    logging.getLogger("symnas").setLevel(logging.WARNING)
    flows.search(space, lambda s: float(s["x"]), "random", 3, verbose=True)
""")


def test_a_program_without_logging_setup_shows_progress_off_a_terminal():
    # stderr is a pipe, as in a job's log file: a line per trial; silenced by verbose=False or
    # by the logger's level.
    done = subprocess.run(
        [sys.executable, "-c", PROGRAM], capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stderr
    shown, quiet, silenced = done.stderr.split("--\n")
    lines = shown.splitlines()
    assert len(lines) == 3
    assert [line.split(" ", 2)[2].split(":")[0] for line in lines] == [
        "trial 0 ok (1/3 done)",
        "trial 1 ok (2/3 done)",
        "trial 2 ok (3/3 done)",
    ]
    assert quiet == "" and silenced == ""


def test_an_application_logging_setup_is_left_alone(monkeypatch, capsys):
    root = logging.getLogger()
    monkeypatch.setattr(root, "handlers", [logging.NullHandler()])
    monkeypatch.setattr(logging.getLogger("symnas"), "handlers", [])
    flows.search(SPACE, lambda s: float(s["x"]), "random", 2, verbose=True)
    assert logging.getLogger("symnas").handlers == []
