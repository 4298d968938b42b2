"""libpod's engine: the Runtime, its containers and pods, and what they need."""
