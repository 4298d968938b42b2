"""pypod OCI runtimes 'runc' and 'crun', run under conmon."""
