"""pypod's ``docker`` image transport: pulls from container registries."""
