package bus_test

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/crmhub/crmhub/hub/bus"
	"github.com/crmhub/crmhub/hub/testenv"
)

// kcat returns the path of Debian's kcat, skipping (or failing under CI)
// when it is not installed.
func kcat(tb testing.TB) string {
	tb.Helper()
	path, err := exec.LookPath("kcat")
	if err != nil {
		msg := "kcat is not installed (apt-get install -y kcat); the Kafka interop test needs it"
		if testenv.Required() {
			tb.Fatal(msg)
		}
		tb.Skip(msg)
	}
	return path
}

func runKcat(ctx context.Context, tb testing.TB, stdin []byte, args ...string) string {
	tb.Helper()
	cmd := exec.CommandContext(ctx, kcat(tb), args...)
	cmd.Stdin = bytes.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		tb.Fatalf("kcat %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return stdout.String()
}

// TestKcatReadsEmbeddedBroker checks that a standard Kafka client
// (librdkafka through kcat) reads what the bus published, and that the bus
// reads what kcat produced, with the same key-to-partition mapping.
func TestKcatReadsEmbeddedBroker(t *testing.T) {
	kcat(t)
	b := mustOpen(t, t.TempDir(), nil)
	ctx := testCtx(t, time.Minute)
	broker := b.Brokers()[0]
	topic := b.Topics().Canonical("customer")

	want := map[string]string{} // key -> "partition value"
	var msgs []bus.Message
	for i := range 12 {
		m := bus.Message{Topic: topic, Key: fmt.Appendf(nil, "crm/contact/%d", i), Value: fmt.Appendf(nil, `{"n":%d}`, i), Headers: map[string]string{"source": "crm"}}
		msgs = append(msgs, m)
	}
	if err := b.Publish(ctx, msgs...); err != nil {
		t.Fatal(err)
	}
	c := b.NewConsumer("kcat-check", []string{topic})
	for _, m := range fetchN(ctx, t, c, len(msgs)) {
		want[string(m.Key)] = strconv.Itoa(m.Partition) + " " + string(m.Value)
	}
	c.Close()

	out := runKcat(ctx, t, nil, "-b", broker, "-C", "-t", topic, "-o", "beginning", "-e", "-q", "-f", "%k|%p|%s|%h\n")
	got := map[string]string{}
	for line := range strings.Lines(out) {
		f := strings.Split(strings.TrimSuffix(line, "\n"), "|")
		if len(f) != 4 {
			t.Fatalf("kcat line %q: want 4 fields", line)
		}
		got[f[0]] = f[1] + " " + f[2]
		if f[3] != "source=crm" {
			t.Errorf("kcat sees headers %q for %s, want source=crm", f[3], f[0])
		}
	}
	if len(got) != len(want) {
		t.Errorf("kcat read %d messages, want %d", len(got), len(want))
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("kcat read %s as %q, bus as %q", k, got[k], v)
		}
	}

	// kcat produces with the Java partitioner (murmur2): each key must land
	// on the partition the bus chose for it.
	var in bytes.Buffer
	keys := slices.Sorted(func(yield func(string) bool) {
		for k := range want {
			if !yield(k) {
				return
			}
		}
	})
	for _, k := range keys {
		fmt.Fprintf(&in, "%s\tfrom-kcat\n", k)
	}
	runKcat(ctx, t, in.Bytes(), "-b", broker, "-P", "-t", topic, "-K", "\t", "-X", "topic.partitioner=murmur2_random")
	c2 := b.NewConsumer("kcat-check-2", []string{topic})
	for _, m := range fetchN(ctx, t, c2, 2*len(keys)) {
		if string(m.Value) != "from-kcat" {
			continue
		}
		wantPart, _, _ := strings.Cut(want[string(m.Key)], " ")
		if strconv.Itoa(m.Partition) != wantPart {
			t.Errorf("kcat put key %s on partition %d, bus on %s", m.Key, m.Partition, wantPart)
		}
	}
}
