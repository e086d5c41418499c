"""The client watchdog (`logship watch`): a room for it, empty for now.

Not named `watchdog`: that is the file-events library the shipper depends on.
Layers: kernel <- client-log writer (logship.clientlog) <- this package.
"""
