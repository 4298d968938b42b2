"""pypod's ``local`` volume driver: each volume a directory under ``volume_path``."""
