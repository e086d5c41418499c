// Writes the corpus's logrus files (text formatter to a file, JSON formatter) through
// Debian's golang-github-sirupsen-logrus-dev, and prints one JSON object per entry.
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/sirupsen/logrus"
)

func guard() {
	frac := time.Now().Nanosecond() / 1e6
	if frac > 750 {
		time.Sleep(time.Duration(1020-frac) * time.Millisecond)
	}
}

func main() {
	out := os.Args[1]
	os.MkdirAll(filepath.Join(out, "logrus"), 0o755)
	enc := json.NewEncoder(os.Stdout)
	type step struct {
		level  logrus.Level
		msg    string
		fields logrus.Fields
	}
	steps := []step{
		{logrus.InfoLevel, "A group of walrus emerges from the ocean", logrus.Fields{"animal": "walrus", "size": 10}},
		{logrus.WarnLevel, "The group's number increased tremendously!", logrus.Fields{"omg": true, "number": 122}},
		{logrus.DebugLevel, "cache miss", logrus.Fields{"key": "user:42", "took": "1.5ms"}},
		{logrus.ErrorLevel, "failed to send event", logrus.Fields{"error": "dial tcp 10.0.0.1:443: i/o timeout", "retry": 3}},
		{logrus.TraceLevel, "entering handler", logrus.Fields{}},
		{logrus.InfoLevel, "request done", logrus.Fields{"method": "GET", "path": "/api/items?id=1&x=\"q\"", "status": 200}},
	}
	for _, kind := range []string{"text", "json"} {
		name := "text.log"
		if kind == "json" {
			name = "json.jsonl"
		}
		fh, err := os.Create(filepath.Join(out, "logrus", name))
		if err != nil {
			panic(err)
		}
		l := logrus.New()
		l.SetOutput(fh)
		l.SetLevel(logrus.TraceLevel)
		if kind == "json" {
			l.SetFormatter(&logrus.JSONFormatter{})
		} else {
			l.SetFormatter(&logrus.TextFormatter{DisableColors: true})
		}
		for i, s := range steps {
			text := fmt.Sprintf("%s [#%d]", s.msg, i)
			guard()
			before := time.Now().Unix()
			l.WithFields(s.fields).Log(s.level, text)
			after := time.Now().Unix()
			lv, _ := s.level.MarshalText()
			enc.Encode(map[string]any{"group": "logrus/" + kind, "ts": before, "ts_after": after, "level": string(lv),
				"message": text, "program": nil, "locate": fmt.Sprintf("[#%d]", i), "multiline": false})
		}
		fh.Close()
	}
}
