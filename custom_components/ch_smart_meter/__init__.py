"""Swiss smart meter (placeholder until the integration lands)."""
