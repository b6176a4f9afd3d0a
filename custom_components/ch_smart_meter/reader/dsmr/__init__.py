"""P1 DSMR: variants and their recognition, line parsing, and the telegram decoder."""
