"""evoconn.hw."""
