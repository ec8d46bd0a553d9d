"""``python -m denoisebench``: the same as the ``denoisebench`` console script."""
import sys

from .cli import main

sys.exit(main())
