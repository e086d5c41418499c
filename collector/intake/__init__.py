"""The collector's intake endpoints beyond Protocol v1 (docs/intake.md).

One module per intake: otlp.py (OTLP/HTTP logs), loki.py (Loki push), esbulk.py
(Elasticsearch bulk), syslognet.py (syslog over TCP/UDP/TLS), pylogging.py (Python's
HTTPHandler), jsonbody.py (JSON bodies). Each renders its payload as lines of a
per-client, per-intake, per-day source (sink.py) that a shipped format parses in the
one commit path, and answers in its own protocol's shape; http.py holds what the HTTP
intakes share, routes.py puts them on the app.
"""
