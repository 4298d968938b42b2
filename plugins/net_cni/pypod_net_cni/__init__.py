"""pypod network backend 'cni': CNI plugins in network namespaces."""
