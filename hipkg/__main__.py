"""python -m hipkg: the same as the hipkg command."""
import sys

from hipkg.cli import main

sys.exit(main())
