"""Floor 4: the `promptrag` command line, a thin shell over the packages below."""
