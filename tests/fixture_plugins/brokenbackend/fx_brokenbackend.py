"""A plugin that would provide the state backend 'fragile', but fails to import."""

import not_installed_dependency  # noqa: F401
