"""``python -m bpcore``: the ``bpcore`` command line."""

from bpcore.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
