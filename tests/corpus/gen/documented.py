"""The documented examples: lines copied from each format's own documentation.

For programs that cannot run here (journald needs systemd as PID 1; Apache, Android,
Node's bunyan/pino, Go's zap/zerolog, Windows CBS are not on this machine or not in
Debian's Go packages), the corpus holds the examples their documentation shows, with
the truth written by hand from the documented meaning of each field. Where a document
shows one line, a few more of the same layout are composed next to it (the note says so).
Each entry: (file, writer, kind, logship format today, text, truth rows, note).
"""

from __future__ import annotations

import datetime as dt


def ts(text: str) -> int:
    """An ISO time (UTC) as epoch seconds, truncated to the second."""
    return int(dt.datetime.fromisoformat(text).replace(tzinfo=dt.timezone.utc).timestamp())


def row(time: str | None, level: str | None, message: str | None, program: str | None, locate: str,
        multiline: bool = False, **kw) -> dict:
    return {"ts": ts(time) if time else None, "level": level, "message": message, "program": program,
            "locate": locate, "multiline": multiline, **kw}


JOURNAL = (
    '{"__CURSOR":"s=bcce4fb8ffcb40e9a6e05eee8b7831bf;i=5ef603;b=ec25d6795f0645619ddac9afdef453ee;'
    'm=545242e7049;t=50f1202;x=ce7fe1a2b1a83b9c","__REALTIME_TIMESTAMP":"1423944916375353",'
    '"__MONOTONIC_TIMESTAMP":"5794517905481","_BOOT_ID":"ec25d6795f0645619ddac9afdef453ee",'
    '"_TRANSPORT":"journal","_UID":"1001","_GID":"1001","_MACHINE_ID":"5833158886a8445e801d437313d25eff",'
    '"_HOSTNAME":"bupkis","PRIORITY":"6","SYSLOG_IDENTIFIER":"python3","_COMM":"python3",'
    '"_EXE":"/usr/bin/python3.4","_PID":"9286","CODE_FILE":"<stdin>","CODE_LINE":"1","CODE_FUNC":"<module>",'
    '"MESSAGE":"foo"}\n'
    '{"__CURSOR":"s=bcce4fb8ffcb40e9a6e05eee8b7831bf;i=5ef604;b=ec25d6795f0645619ddac9afdef453ee;'
    'm=545242e7050;t=50f1203;x=ce7fe1a2b1a83b9d","__REALTIME_TIMESTAMP":"1423944917375353",'
    '"__MONOTONIC_TIMESTAMP":"5794518905481","_BOOT_ID":"ec25d6795f0645619ddac9afdef453ee",'
    '"_TRANSPORT":"syslog","PRIORITY":"3","SYSLOG_FACILITY":"4","SYSLOG_IDENTIFIER":"sshd","SYSLOG_PID":"9301",'
    '"_HOSTNAME":"bupkis","_COMM":"sshd","_PID":"9301","_SYSTEMD_UNIT":"ssh.service",'
    '"MESSAGE":"error: kex_exchange_identification: Connection closed by remote host"}\n'
    '{"__CURSOR":"s=bcce4fb8ffcb40e9a6e05eee8b7831bf;i=5ef605;b=ec25d6795f0645619ddac9afdef453ee;'
    'm=545242e7051;t=50f1204;x=ce7fe1a2b1a83b9e","__REALTIME_TIMESTAMP":"1423944918375353",'
    '"__MONOTONIC_TIMESTAMP":"5794519905481","_BOOT_ID":"ec25d6795f0645619ddac9afdef453ee",'
    '"_TRANSPORT":"stdout","PRIORITY":"4","SYSLOG_IDENTIFIER":"myservice","_PID":"9400",'
    '"_HOSTNAME":"bupkis","_SYSTEMD_UNIT":"myservice.service","MESSAGE":[104,105,255]}\n'
)

APACHE22 = (
    "[Wed Oct 11 14:32:52 2000] [error] [client 127.0.0.1] client denied by server configuration: "
    "/export/home/live/ap/htdocs/test\n"
    "[Wed Oct 11 14:32:53 2000] [notice] Apache/2.2.22 (Unix) configured -- resuming normal operations\n"
    "[Wed Oct 11 14:33:10 2000] [error] [client 10.0.0.5] File does not exist: /usr/local/apache2/htdocs/favicon.ico\n"
)

APACHE24 = (
    "[Fri Sep 09 10:42:29.902022 2011] [core:error] [pid 35708:tid 4328636416] [client 72.15.99.187] "
    "File does not exist: /usr/local/apache2/htdocs/favicon.ico\n"
    "[Fri Sep 09 10:42:30.100001 2011] [mpm_event:notice] [pid 35700:tid 4328636000] AH00489: Apache/2.4.1 (Unix) "
    "configured -- resuming normal operations\n"
    "[Fri Sep 09 10:43:01.523187 2011] [authz_core:error] [pid 35709:tid 4328636500] [client 72.15.99.188:52001] "
    "AH01630: client denied by server configuration: /usr/local/apache2/htdocs/private\n"
)

LOGCAT = (
    "11-30 09:15:02.123  1901  4229 D EventBus: No subscribers registered for event class com.example.Ping\n"
    "11-30 09:15:02.140  1781  1781 I ActivityManager: Start proc 2143:com.android.example/u0a80 for activity\n"
    "11-30 09:15:03.001  2143  2160 W System.err: java.io.IOException: Broken pipe\n"
    "11-30 09:15:03.555  2143  2143 E AndroidRuntime: FATAL EXCEPTION: main\n"
    "11-30 09:15:04.000  2143  2143 V MyActivity: onResume called: count=3\n"
    "11-30 09:15:04.250   566   566 F libc    : Fatal signal 11 (SIGSEGV), code 1, fault addr 0x0 in tid 566\n"
)

ECS = (
    '{"@timestamp":"2019-08-06T12:09:12.375Z", "log.level": "INFO", "message":"Tomcat started on port(s): 8080 '
    "(http) with context path ''\", \"service.name\":\"spring-petclinic\",\"process.thread.name\":\"restartedMain\","
    '"log.logger":"org.springframework.boot.web.embedded.tomcat.TomcatWebServer"}\n'
    '{"@timestamp":"2019-08-06T12:09:12.379Z", "log.level": "INFO", "message":"Started PetClinicApplication in 7.095 '
    'seconds (JVM running for 9.082)", "service.name":"spring-petclinic","process.thread.name":"restartedMain",'
    '"log.logger":"org.springframework.samples.petclinic.PetClinicApplication"}\n'
    '{"@timestamp":"2021-01-08T15:13:40.556Z","log.level":"debug","message":"Example message!",'
    '"ecs":{"version":"1.6.0"},"log":{"logger":"app","origin":{"file":{"line":14,"name":"test.py"},'
    '"function":"main"},"original":"Example message!"},"process":{"pid":3242},"http":{"request":{"method":"get"}}}\n'
)

OTEL = (
    '{"resourceLogs":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"my.service"}}]},'
    '"scopeLogs":[{"scope":{"name":"my.library","version":"1.0.0"},"logRecords":[{"timeUnixNano":'
    '"1544712660300000000","observedTimeUnixNano":"1544712660300000000","severityNumber":10,'
    '"severityText":"Information","traceId":"5b8efff798038103d269b633813fc60c","spanId":"eee19b7ec3c1b174",'
    '"body":{"stringValue":"Example log record"},"attributes":[{"key":"string.attribute","value":'
    '{"stringValue":"some string"}}]}]}]}]}\n'
    '{"resourceLogs":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"my.service"}}]},'
    '"scopeLogs":[{"scope":{"name":"my.library","version":"1.0.0"},"logRecords":[{"timeUnixNano":'
    '"1544712661300000000","observedTimeUnixNano":"1544712661300000000","severityNumber":17,'
    '"severityText":"ERROR","body":{"stringValue":"Connection to db lost"}}]}]}]}\n'
)

BUNYAN = (
    '{"name":"myapp","hostname":"banana.local","pid":40161,"level":30,"msg":"hi","time":"2013-01-04T18:46:23.851Z",'
    '"v":0}\n'
    '{"name":"myapp","hostname":"banana.local","pid":40161,"level":40,"lang":"fr","msg":"au revoir",'
    '"time":"2013-01-04T18:46:23.853Z","v":0}\n'
    '{"name":"myapp","hostname":"banana.local","pid":40161,"level":50,"err":{"message":"boom","name":"Error",'
    '"stack":"Error: boom\\n    at Object.<anonymous> (/tmp/hi.js:9:11)"},"msg":"boom","time":"2013-01-04T18:46:24.001Z",'
    '"v":0}\n'
)

PINO = (
    '{"level":30,"time":1531171074631,"msg":"hello world","pid":657,"hostname":"Davids-MBP-3.fritz.box"}\n'
    '{"level":30,"time":1531171082399,"msg":"hello child!","pid":657,"hostname":"Davids-MBP-3.fritz.box",'
    '"a":"property"}\n'
    '{"level":50,"time":1531171083000,"msg":"something failed","pid":657,"hostname":"Davids-MBP-3.fritz.box"}\n'
)

ZAP = (
    '{"level":"info","ts":1572031231.0135324,"caller":"zap/example.go:15","msg":"failed to fetch URL",'
    '"url":"http://example.com","attempt":3,"backoff":1}\n'
    '{"level":"warn","ts":1572031232.5001,"caller":"zap/example.go:21","msg":"retrying","attempt":4}\n'
    '{"level":"error","ts":1572031233.25,"logger":"fetcher","caller":"zap/example.go:30","msg":"giving up",'
    '"url":"http://example.com","stacktrace":"main.main\\n\\t/tmp/example.go:30"}\n'
)

ZEROLOG = (
    '{"level":"debug","time":1494567715,"message":"hello world"}\n'
    '{"level":"debug","Scale":"833 cents","Interval":833.09,"time":1562212768,"message":"Fibonacci is everywhere"}\n'
    '{"level":"info","time":1494567716,"message":"hello world","foo":"bar"}\n'
    '{"level":"error","error":"some error","time":1562212769,"message":"A repo man spends his life getting into '
    'tense situations"}\n'
)

CBS = (
    "2016-10-03 14:35:21, Info                  CBS    Loaded Servicing Stack v6.1.7601.23505 with Core: "
    "C:\\Windows\\winsxs\\amd64_microsoft-windows-servicingstack_31bf3856ad364e35_6.1.7601.23505_none\\cbscore.dll\n"
    "2016-10-03 14:35:21, Info                  CSI    00000001@2016/10/3:12:35:21.621 WcpInitialize "
    "(wcp.dll version 0.0.0.6) called (stack @0x7fef7a3e5a2 @0x7fef7ba4b52)\n"
    "2016-10-03 14:35:22, Error                 CBS    Failed to internally open package. [HRESULT = 0x800f0805 - "
    "CBS_E_INVALID_PACKAGE]\n"
    "2016-10-03 14:35:23, Warning               CBS    Unrecognized packageExtended attribute.\n"
)

EXAMPLES = [
    ("journald.jsonl", "systemd journalctl -o json (JOURNAL_EXPORT_FORMATS, systemd.journal-fields(7))",
     "journald JSON (journalctl -o json)", "jsonl", JOURNAL, [
         row("2015-02-14T20:15:16", "info", "foo", "python3", ';i=5ef603'),
         row("2015-02-14T20:15:17", "error", "error: kex_exchange_identification: Connection closed by remote host",
             "sshd", ';i=5ef604'),
         row("2015-02-14T20:15:18", "warning", "hi\ufffd", "myservice", ';i=5ef605'),
     ], "first line: the documented field names and example values; MESSAGE as a byte array (non-UTF-8) as "
        "the export format documents it; PRIORITY 6/3/4 = info/err/warning"),
    ("apache-2.2-error.log", "Apache httpd 2.2 documentation (Log Files: Error Log)", "Apache 2.2 error log", None,
     APACHE22, [
         row("2000-10-11T14:32:52", "error", "client denied by server configuration: /export/home/live/ap/htdocs/test",
             None, "14:32:52", message_alt=["[client 127.0.0.1] client denied by server configuration: "
                                             "/export/home/live/ap/htdocs/test"]),
         row("2000-10-11T14:32:53", "notice", "Apache/2.2.22 (Unix) configured -- resuming normal operations", None,
             "14:32:53"),
         row("2000-10-11T14:33:10", "error", "File does not exist: /usr/local/apache2/htdocs/favicon.ico", None,
             "14:33:10", message_alt=["[client 10.0.0.5] File does not exist: /usr/local/apache2/htdocs/favicon.ico"]),
     ], "first line from the documentation; two more in its layout; local time, taken as UTC"),
    ("apache-2.4-error.log", "Apache httpd 2.4 documentation (Log Files: Error Log)", "Apache 2.4 error log", None,
     APACHE24, [
         row("2011-09-09T10:42:29", "error", "File does not exist: /usr/local/apache2/htdocs/favicon.ico", None,
             "10:42:29", message_alt=["[client 72.15.99.187] File does not exist: "
                                      "/usr/local/apache2/htdocs/favicon.ico"]),
         row("2011-09-09T10:42:30", "notice", "AH00489: Apache/2.4.1 (Unix) configured -- resuming normal operations",
             None, "10:42:30"),
         row("2011-09-09T10:43:01", "error", "AH01630: client denied by server configuration: "
             "/usr/local/apache2/htdocs/private", None, "10:43:01",
             message_alt=["[client 72.15.99.188:52001] AH01630: client denied by server configuration: "
                          "/usr/local/apache2/htdocs/private"]),
     ], "first line from the documentation; two more in its layout; module:level, pid:tid; program null "
        "(the module is a field)"),
    ("logcat-threadtime.log", "Android logcat -v threadtime (Logcat command-line tool documentation)",
     "Android logcat threadtime", None, LOGCAT, [
         row("2026-11-30T09:15:02", "debug", "No subscribers registered for event class com.example.Ping", "EventBus",
             "EventBus:"),
         row("2026-11-30T09:15:02", "info", "Start proc 2143:com.android.example/u0a80 for activity",
             "ActivityManager", "ActivityManager:"),
         row("2026-11-30T09:15:03", "warning", "java.io.IOException: Broken pipe", "System.err", "System.err:"),
         row("2026-11-30T09:15:03", "error", "FATAL EXCEPTION: main", "AndroidRuntime", "AndroidRuntime:"),
         row("2026-11-30T09:15:04", "verbose", "onResume called: count=3", "MyActivity", "MyActivity:"),
         row("2026-11-30T09:15:04", "fatal", "Fatal signal 11 (SIGSEGV), code 1, fault addr 0x0 in tid 566", "libc",
             "libc    :"),
     ], "the documented threadtime layout (date time pid tid priority tag: message), values composed; no year "
        "in the line: the truth takes 2026 (the corpus's year), local time taken as UTC"),
    ("ecs.jsonl", "ecs-logging (Java README; Python documentation)", "ECS JSON (@timestamp, log.level, message)",
     "jsonl", ECS, [
         row("2019-08-06T12:09:12", "info", "Tomcat started on port(s): 8080 (http) with context path ''",
             "org.springframework.boot.web.embedded.tomcat.TomcatWebServer", "12:09:12.375Z"),
         row("2019-08-06T12:09:12", "info", "Started PetClinicApplication in 7.095 seconds (JVM running for 9.082)",
             "org.springframework.samples.petclinic.PetClinicApplication", "12:09:12.379Z"),
         row("2021-01-08T15:13:40", "debug", "Example message!", "app", "15:13:40.556Z"),
     ], "dotted keys (Java) and nested keys (Python); program: log.logger"),
    ("otel.jsonl", "OpenTelemetry OTLP/JSON (opentelemetry-proto examples/logs.json; file exporter)",
     "OpenTelemetry JSON log record (OTLP/JSON, one export per line)", "jsonl", OTEL, [
         row("2018-12-13T14:51:00", "info", "Example log record", "my.service", "Example log record"),
         row("2018-12-13T14:51:01", "error", "Connection to db lost", "my.service", "Connection to db lost"),
     ], "one log record per line; severityNumber 10 = INFO2, 17 = ERROR; program: resource service.name"),
    ("bunyan.jsonl", "bunyan README", "bunyan JSON (numeric levels)", "jsonl", BUNYAN, [
         row("2013-01-04T18:46:23", "info", "hi", "myapp", '"msg":"hi"'),
         row("2013-01-04T18:46:23", "warning", "au revoir", "myapp", "au revoir"),
         row("2013-01-04T18:46:24", "error", "boom", "myapp", '"msg":"boom"'),
     ], "first two lines from the README; levels 30/40/50 = info/warn/error; program: name"),
    ("pino.jsonl", "pino README", "pino JSON (numeric levels, epoch ms)", "jsonl", PINO, [
         row("2018-07-09T21:17:54", "info", "hello world", None, "hello world"),
         row("2018-07-09T21:18:02", "info", "hello child!", None, "hello child!"),
         row("2018-07-09T21:18:03", "error", "something failed", None, "something failed"),
     ], "first two lines from the README; time in epoch milliseconds"),
    ("zap.jsonl", "zap README (NewProduction)", "zap JSON (ts epoch float seconds)", "jsonl", ZAP, [
         row("2019-10-25T19:20:31", "info", "failed to fetch URL", None, "failed to fetch URL"),
         row("2019-10-25T19:20:32", "warning", "retrying", None, '"retrying"'),
         row("2019-10-25T19:20:33", "error", "giving up", "fetcher", "giving up"),
     ], "first line from the README; program: the logger key where present"),
    ("zerolog.jsonl", "zerolog README", "zerolog JSON (time epoch seconds, message)", "jsonl", ZEROLOG, [
         row("2017-05-12T05:41:55", "debug", "hello world", None, "1494567715"),
         row("2019-07-04T03:59:28", "debug", "Fibonacci is everywhere", None, "Fibonacci"),
         row("2017-05-12T05:41:56", "info", "hello world", None, "1494567716"),
         row("2019-07-04T03:59:29", "error", "A repo man spends his life getting into tense situations", None,
             "repo man"),
     ], "lines from the README"),
    ("windows-cbs.log", "Windows CBS.log (Component-Based Servicing, as published in support articles)",
     "Windows CBS 'date time, Level  Component  message'", None, CBS, [
         row("2016-10-03T14:35:21", "info", "Loaded Servicing Stack v6.1.7601.23505 with Core: C:\\Windows\\winsxs\\"
             "amd64_microsoft-windows-servicingstack_31bf3856ad364e35_6.1.7601.23505_none\\cbscore.dll", "CBS",
             "Loaded Servicing"),
         row("2016-10-03T14:35:21", "info", "00000001@2016/10/3:12:35:21.621 WcpInitialize (wcp.dll version 0.0.0.6) "
             "called (stack @0x7fef7a3e5a2 @0x7fef7ba4b52)", "CSI", "WcpInitialize"),
         row("2016-10-03T14:35:22", "error", "Failed to internally open package. [HRESULT = 0x800f0805 - "
             "CBS_E_INVALID_PACKAGE]", "CBS", "internally open"),
         row("2016-10-03T14:35:23", "warning", "Unrecognized packageExtended attribute.", "CBS", "packageExtended"),
     ], "lines in the layout of published CBS.log excerpts; local time, taken as UTC"),
]
