"""A plugin whose import fails."""

raise ImportError("this plugin needs libfoo, which is not installed")
