"""evoconn.training."""
