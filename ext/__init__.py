"""Third-party-derived modules (e.g. SAM's prompt encoder), rewritten in FastSAM2's style."""
