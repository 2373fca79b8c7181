"""``python -m bpcore`` runs the command line."""

from bpcore.cli import main

raise SystemExit(main())
