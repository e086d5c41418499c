"""The collector's intake endpoints beyond Protocol v1 (OTLP, Loki, Elasticsearch bulk, syslog, ...).

Each maps its protocol onto the record model and hands the result to the one commit
path (logship.store); each answers errors in its own protocol's shape. Empty for now.
"""
