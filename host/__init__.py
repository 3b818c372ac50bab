"""evoconn.host."""
