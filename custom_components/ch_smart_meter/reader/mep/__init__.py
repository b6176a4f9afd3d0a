"""NES/OSGP MEP (Multipurpose Expansion Port): ANSI C12.18 table reads over a UART, each
request and answer authenticated by an 8-byte digest keyed with the MEP basic key (MBK).

Primary source: the OSGP MEP Client Developer's Guide (v1.1, 2022), read, not copied.
"""
