from gateway.app import main

raise SystemExit(main())
