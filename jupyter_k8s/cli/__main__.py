"""`python -m jupyter_k8s.cli ...`: the same as `jupyter k8s ...`."""

import sys

from . import main

sys.exit(main())
