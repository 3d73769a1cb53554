import sys

from audiocs.cli import main

sys.exit(main())
