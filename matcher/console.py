"""The ``sendmatch`` console script's first lines: what must happen before anything is imported.

A round (``sendmatch place`` and the other commands of :data:`ROUND_COMMANDS`) makes a few
hundred thousand objects that live until it ends, and no garbage in cycles, so Python's cyclic
collector would walk them again and again (a tenth of a second at 25,000 children) and free
nothing; importing the libraries it needs sets the collector off as well. So for those
commands it is off from the first line, before the command line (:mod:`matcher.cli`) is
imported. The server and the long batch commands keep it.
"""

from __future__ import annotations

import gc
import sys

#: The commands that run one placement round and end: their objects all live to the end.
ROUND_COMMANDS = frozenset({"place", "tailored-lists", "panel-pack", "fair-access", "demo"})


def run() -> None:
    """Run ``sendmatch`` as its arguments say, without the cyclic collector for a round."""
    if len(sys.argv) > 1 and sys.argv[1] in ROUND_COMMANDS:
        gc.disable()
    from matcher.cli import run as run_command_line

    run_command_line()
