"""`python -m lsp_server` is the `bigcode-ls` command."""

import sys

from cli.main import main

sys.exit(main())
