"""DLMS/COSEM: ciphering, A-XDR, data notifications."""
