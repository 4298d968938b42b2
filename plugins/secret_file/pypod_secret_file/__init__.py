"""pypod's ``file`` secret driver: secrets' data in one private file under the graph root."""
