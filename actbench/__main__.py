from actbench.cli import main

raise SystemExit(main())
