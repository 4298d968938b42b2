"""Example pypod plugin: the state backend ``jsonfile``."""
