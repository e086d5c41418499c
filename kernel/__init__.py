"""The shared kernel: what every part of logship may import, and which imports none of them.

Standard library only (the shipper and the watchdog run on the desktop; zones.py asks
tzlocal, a light dependency of every install, when called): errors, the
named limits and the Protocol v1 frame and message encoding (protocol.py), source
fingerprints, unit tables, TOML reading, the .gz reader, the status.json schema, the
local zone and a process's recorded start (procstart.py).
"""
