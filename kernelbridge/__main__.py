from kernelbridge.cli import main

raise SystemExit(main())
