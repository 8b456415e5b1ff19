package host_test

import (
	"context"
	"errors"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/crmhub/crmhub/plugins/host"
	"github.com/crmhub/crmhub/plugins/sdk"
)

func TestReconcilerPassesThrough(t *testing.T) {
	for _, inProcess := range []bool{false, true} {
		t.Run("in-process="+strconv.FormatBool(inProcess), func(t *testing.T) {
			f := newHost(t, func(o *host.Options) { o.InProcess = inProcess })
			src := openSource(t, f.host, "crm", "crashy", sdk.Config{"total": 7})
			ctx := context.Background()
			n, err := sdk.CountOf(ctx, src, "customers")
			if err != nil || n != 7 {
				t.Fatalf("count = %d, %v; want 7", n, err)
			}
			var keys []string
			after := ""
			for {
				page, err := sdk.KeysOf(ctx, src, "customers", after, 3)
				if err != nil {
					t.Fatal(err)
				}
				keys = append(keys, page...)
				if len(page) < 3 {
					break
				}
				after = page[len(page)-1]
			}
			wantSequence(t, keys, 7)
			if _, err := sdk.CountOf(ctx, src, "orders"); !errors.Is(err, sdk.ErrNotSupported) {
				t.Errorf("count of an entity the connector cannot count: want ErrNotSupported, got %v", err)
			}
		})
	}
}

// A crashed plugin is restarted by the reading goroutine, not by a
// reconciliation call: Count reports the outage and works again after Read
// brought the plugin back.
func TestReconcilerDuringPluginCrash(t *testing.T) {
	f := newHost(t, nil)
	src := openSource(t, f.host, "crm", "crashy", sdk.Config{"total": 20})
	ctx := context.Background()
	if _, err := src.Read(ctx, 5); err != nil {
		t.Fatal(err)
	}
	pid := f.host.Health()[0].PID
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		_, err := sdk.CountOf(ctx, src, "customers")
		if err != nil {
			if errors.Is(err, sdk.ErrNotSupported) {
				t.Fatalf("a dead plugin is not an unsupported count: %v", err)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("count kept answering after the plugin was killed")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if got := f.host.Health()[0].Restarts; got != 0 {
		t.Errorf("a count must not restart the plugin, restarts = %d", got)
	}
	if _, err := src.Read(ctx, 5); err != nil {
		t.Fatal(err)
	}
	if n, err := sdk.CountOf(ctx, src, "customers"); err != nil || n != 20 {
		t.Fatalf("count after restart = %d, %v; want 20", n, err)
	}
}

func TestReconcilerBeforeOpen(t *testing.T) {
	f := newHost(t, func(o *host.Options) { o.InProcess = true })
	ctx := context.Background()
	src, err := f.host.Source(ctx, "crm", "crashy")
	if err != nil {
		t.Fatal(err)
	}
	if err := src.Configure(ctx, sdk.Config{"total": 3}); err != nil {
		t.Fatal(err)
	}
	if _, err := sdk.CountOf(ctx, src, "customers"); !errors.Is(err, host.ErrNotOpen) {
		t.Fatalf("count before Open: want ErrNotOpen, got %v", err)
	}
	if err := src.Open(ctx, nil); err != nil {
		t.Fatal(err)
	}
	if n, err := sdk.CountOf(ctx, src, "customers"); err != nil || n != 3 {
		t.Fatalf("count after Open = %d, %v; want 3", n, err)
	}
}
