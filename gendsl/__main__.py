from gendsl.cli import main

raise SystemExit(main())
