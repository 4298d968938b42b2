"""pypod state backend 'sqlite': the default, persistent state store."""
