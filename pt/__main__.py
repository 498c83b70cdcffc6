import sys

from pt.cli import console_main

sys.exit(console_main())
