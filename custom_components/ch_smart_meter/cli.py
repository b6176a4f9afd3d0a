"""``python -m custom_components.ch_smart_meter.cli``: the reader library's command-line tool.

decode / read / simulate; see ``reader/cli.py``.
"""

import sys

from .reader.cli import main

if __name__ == "__main__":
    sys.exit(main())
