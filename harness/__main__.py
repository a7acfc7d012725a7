"""`python -m harness ...` is the fwcompare CLI."""

from harness.cli.main import main

raise SystemExit(main())
