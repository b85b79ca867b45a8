"""`python -m lsp_server` is the `bigcode-ls` command."""

import sys

from cli.main import main

if __name__ == "__main__":
    sys.exit(main())
