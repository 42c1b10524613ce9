"""`python -m reference_server.ca` is `smsgate-ca`."""

import sys

from .cli import main

sys.exit(main())
