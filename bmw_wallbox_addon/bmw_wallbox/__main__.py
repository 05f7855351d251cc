"""Allow ``python -m bmw_wallbox``."""

from bmw_wallbox.cli import main

raise SystemExit(main())
