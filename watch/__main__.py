"""`python -P -m logship.watch --config-json JSON` (see watch/main.py)."""

from logship.watch.main import main

raise SystemExit(main())
