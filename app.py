"""The browser app: ``python app.py`` serves it at http://127.0.0.1:7860.

A thin launcher for a checkout; installed, the same is ``rnn-generator app``. The flags are
generator/cli/app.py's (``python app.py --help``), the page is generator/app/ui.py.
"""

import sys

from generator.cli import main

if __name__ == "__main__":
    raise SystemExit(main(["app", *sys.argv[1:]]))
