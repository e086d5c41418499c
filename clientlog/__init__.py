"""The client-log writer (writer.py) and the fleet simulator built on it (simulate.py).

Light: the kernel and the standard library only, so the watchdog can embed it.
"""
