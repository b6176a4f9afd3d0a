"""Link-layer framers: bytes in, checked frames out."""
