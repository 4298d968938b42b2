"""pypod's image transports for layouts and archives: ``oci:``, ``oci-archive:``,
``docker-archive:`` and ``dir:``, read (pull, run, load) and written (push, save)."""
