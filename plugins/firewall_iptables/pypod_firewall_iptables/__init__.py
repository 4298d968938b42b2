"""pypod firewall backends 'iptables' and 'none'."""
