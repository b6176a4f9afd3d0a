"""``python -m custom_components.ch_smart_meter.reader``: the command-line tool."""

import sys

from .cli import main

sys.exit(main())
