"""The shared kernel: what every part of logship may import, and which imports none of them.

Standard library only (the shipper and the watchdog run on the desktop): errors, the
named limits and the Protocol v1 frame and message encoding (protocol.py), source
fingerprints, unit tables, TOML reading, the .gz reader and the status.json schema.
"""
