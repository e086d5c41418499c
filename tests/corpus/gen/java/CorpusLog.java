// Writes the log4j2 and logback corpus files through the real libraries (Debian's jars).
// Prints one JSON object per logged entry on stdout: what was logged and the second it
// was logged in (read before and after the call), for make_corpus.py's truth files.
import java.io.IOException;

public class CorpusLog {
    static void guard() throws InterruptedException {
        long frac = System.currentTimeMillis() % 1000;
        if (frac > 750) Thread.sleep(1020 - frac);
    }

    static String q(String s) {
        if (s == null) return "null";
        return "\"" + s.replace("\\", "\\\\").replace("\"", "\\\"") + "\"";
    }

    static void truth(String group, long before, long after, String level, String msg, String logger,
                      int i, boolean multiline) {
        System.out.println("{\"group\": " + q(group) + ", \"ts\": " + before + ", \"ts_after\": " + after
            + ", \"level\": " + q(level) + ", \"message\": " + q(msg) + ", \"program\": " + q(logger)
            + ", \"locate\": " + q("[#" + i + "]") + ", \"multiline\": " + multiline + "}");
    }

    static final String[][] STEPS = {
        {"com.example.App", "INFO", "Starting App v2.4.1 on host vm"},
        {"com.example.db.Pool", "DEBUG", "pool size=5 timeout=30s"},
        {"com.example.web.Controller", "INFO", "GET /api/items -> 200 (12 ms)"},
        {"com.example.web.Controller", "WARN", "slow request: GET /api/report took 2500 ms"},
        {"com.example.db.Pool", "ERROR", "connection refused: db:5432 - will retry"},
        {"com.example.App", "TRACE", "config key=value, another: thing"},
    };

    static Exception failure() {
        try {
            try {
                throw new IOException("connection reset by peer");
            } catch (IOException e) {
                throw new IllegalStateException("charge declined", e);
            }
        } catch (IllegalStateException e) {
            return e;
        }
    }

    public static void main(String[] args) throws Exception {
        // log4j2: configured by -Dlog4j2.configurationFile; loggers fetched before the first line.
        java.util.Map<String, org.apache.logging.log4j.Logger> l4s = new java.util.HashMap<>();
        java.util.Map<String, org.slf4j.Logger> lbs = new java.util.HashMap<>();
        for (String[] s : STEPS) {
            l4s.put(s[0], org.apache.logging.log4j.LogManager.getLogger(s[0]));
            lbs.put(s[0], org.slf4j.LoggerFactory.getLogger(s[0]));
        }
        l4s.put("com.example.billing.Charges", org.apache.logging.log4j.LogManager.getLogger("com.example.billing.Charges"));
        lbs.put("com.example.billing.Charges", org.slf4j.LoggerFactory.getLogger("com.example.billing.Charges"));
        for (int i = 0; i < STEPS.length; i++) {
            String name = STEPS[i][0], level = STEPS[i][1], msg = STEPS[i][2] + " [#" + i + "]";
            guard();
            long before = System.currentTimeMillis() / 1000;
            l4s.get(name).log(org.apache.logging.log4j.Level.valueOf(level), msg);
            long after = System.currentTimeMillis() / 1000;
            truth("log4j2", before, after, level, msg, name, i, false);
        }
        int n = STEPS.length;
        String msg = "payment failed for order 42 [#" + n + "]";
        guard();
        long before = System.currentTimeMillis() / 1000;
        l4s.get("com.example.billing.Charges").error(msg, failure());
        long after = System.currentTimeMillis() / 1000;
        truth("log4j2", before, after, "ERROR", msg, "com.example.billing.Charges", n, true);
        msg = "shutting down [#" + (n + 1) + "]";
        guard();
        before = System.currentTimeMillis() / 1000;
        l4s.get("com.example.App").info(msg);
        after = System.currentTimeMillis() / 1000;
        truth("log4j2", before, after, "INFO", msg, "com.example.App", n + 1, false);

        for (int i = 0; i < STEPS.length; i++) {
            String name = STEPS[i][0], level = STEPS[i][1];
            msg = STEPS[i][2] + " [#" + i + "]";
            org.slf4j.Logger lb = lbs.get(name);
            guard();
            before = System.currentTimeMillis() / 1000;
            switch (level) {
                case "TRACE": lb.trace(msg); break;
                case "DEBUG": lb.debug(msg); break;
                case "INFO": lb.info(msg); break;
                case "WARN": lb.warn(msg); break;
                default: lb.error(msg);
            }
            after = System.currentTimeMillis() / 1000;
            truth("logback", before, after, level, msg, name, i, false);
        }
        msg = "payment failed for order 42 [#" + n + "]";
        guard();
        before = System.currentTimeMillis() / 1000;
        lbs.get("com.example.billing.Charges").error(msg, failure());
        after = System.currentTimeMillis() / 1000;
        truth("logback", before, after, "ERROR", msg, "com.example.billing.Charges", n, true);
        msg = "shutting down [#" + (n + 1) + "]";
        guard();
        before = System.currentTimeMillis() / 1000;
        lbs.get("com.example.App").info(msg);
        after = System.currentTimeMillis() / 1000;
        truth("logback", before, after, "INFO", msg, "com.example.App", n + 1, false);
        org.apache.logging.log4j.LogManager.shutdown();
        ((ch.qos.logback.classic.LoggerContext) org.slf4j.LoggerFactory.getILoggerFactory()).stop();
    }
}
