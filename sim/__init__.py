"""evoconn.sim."""
