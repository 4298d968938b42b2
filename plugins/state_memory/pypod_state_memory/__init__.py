"""pypod's in-memory state backend (``state_type = "memory"``)."""
