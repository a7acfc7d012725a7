"""`python -m harness ...` is the fwcompare CLI."""

from harness.cli import main

raise SystemExit(main())
