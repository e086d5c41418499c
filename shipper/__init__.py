"""The shipper daemon: tails log files and streams their complete lines to a collector.

Imports only the kernel (logship.kernel) and light libraries: it runs on the desktop.
"""
