"""Run an actor the way the seed did by hand (``while HelloDecider().run(): pass``).

The seed's loop ends at the first empty poll (``run()`` returns None), which with
SWF's 60 s long poll meant "no work for a minute". As a script the loop keeps
going through empty polls and stops after ``--idle-polls`` of them in a row
(default: never), so a demo or a test can let it finish on its own.
"""

import argparse


def main(actors, argv=None):
    """``actors``: name -> actor class. Polls with a fresh instance each round, like the seed."""
    parser = argparse.ArgumentParser()
    if len(actors) > 1:
        parser.add_argument('actor', choices=sorted(actors))
    parser.add_argument('--idle-polls', type=int, default=0,
                        help='stop after this many empty polls in a row (0: never)')
    args = parser.parse_args(argv)
    actor = actors[args.actor] if len(actors) > 1 else next(iter(actors.values()))
    idle = 0
    while not args.idle_polls or idle < args.idle_polls:
        if actor().run():
            idle = 0
        else:
            idle += 1
    return 0
