"""``python -m generation.study``."""

from generation.study.cli import main

raise SystemExit(main())
