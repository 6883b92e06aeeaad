"""Records as people and files see them: masking, retention, export."""
