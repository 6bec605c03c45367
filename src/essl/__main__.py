from essl.cli.main import main

raise SystemExit(main())
