// Writes the corpus's Go standard library log files (default flags, microseconds, a
// prefix with Lmsgprefix) and prints one JSON object per entry for the truth files.
package main

import (
	"encoding/json"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"time"
)

func guard() {
	frac := time.Now().Nanosecond() / 1e6
	if frac > 750 {
		time.Sleep(time.Duration(1020-frac) * time.Millisecond)
	}
}

func main() {
	out := os.Args[1]
	os.MkdirAll(filepath.Join(out, "go"), 0o755)
	files := []struct {
		group, name string
		flags       int
		prefix      string
	}{
		{"go/log-default", "log-default.log", log.LstdFlags, ""},
		{"go/log-micro", "log-micro.log", log.LstdFlags | log.Lmicroseconds, ""},
		{"go/log-prefix", "log-prefix.log", log.LstdFlags | log.Lmsgprefix, "worker: "},
	}
	msgs := []string{
		"server listening on :8080",
		"GET /healthz 200 35.2µs",
		"ERROR: could not open config.yaml: no such file or directory",
		"retrying in 5s (attempt 2/5)",
		"key=value pairs a=1 b=2",
		"shutting down",
	}
	enc := json.NewEncoder(os.Stdout)
	for _, f := range files {
		fh, err := os.Create(filepath.Join(out, "go", f.name))
		if err != nil {
			panic(err)
		}
		l := log.New(fh, f.prefix, f.flags)
		for i, m := range msgs {
			text := fmt.Sprintf("%s [#%d]", m, i)
			guard()
			before := time.Now().Unix()
			l.Println(text)
			after := time.Now().Unix()
			var program any
			if f.prefix != "" {
				program = "worker"
			}
			enc.Encode(map[string]any{"group": f.group, "ts": before, "ts_after": after, "level": nil,
				"message": text, "program": program, "locate": fmt.Sprintf("[#%d]", i), "multiline": false})
		}
		fh.Close()
	}
}
