"""Linux and standard-library helpers with no pypod objects; plugins may use them."""
