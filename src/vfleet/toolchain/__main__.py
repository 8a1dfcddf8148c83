import sys

from vfleet.toolchain.command import main

sys.exit(main())
