package host_test

import (
	"context"
	"errors"
	"slices"
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

			// Versions behind the position and a re-read cross the
			// plugin protocol too.
			vr, ok := src.(sdk.VersionReconciler)
			if !ok {
				t.Fatal("the host's source is no VersionReconciler")
			}
			read, err := src.Read(ctx, 4)
			if err != nil || len(read) != 4 {
				t.Fatal(read, err)
			}
			if err := src.Ack(ctx, read[3].Position); err != nil {
				t.Fatal(err)
			}
			ids, versions, last, err := vr.VersionsBehind(ctx, "customers", "", 3)
			if err != nil || !slices.Equal(ids, []string{"0", "1", "2"}) || last != "2" || len(versions) != 3 ||
				!versions[2].Equal(time.Date(2024, 1, 1, 0, 0, 3, 0, time.UTC)) {
				t.Fatalf("versions behind = %v %v %q %v", ids, versions, last, err)
			}
			ids, _, last, err = vr.VersionsBehind(ctx, "customers", last, 3)
			if err != nil || !slices.Equal(ids, []string{"3"}) || last != "5" {
				t.Fatalf("second page = %v %q %v; want [3] up to 5", ids, last, err)
			}
			if _, _, _, err := vr.VersionsBehind(ctx, "orders", "", 3); !errors.Is(err, sdk.ErrNotSupported) {
				t.Errorf("versions of an entity the connector cannot scan: want ErrNotSupported, got %v", err)
			}
			if err := vr.Reread(ctx, "customers", []string{"1", "3"}); err != nil {
				t.Fatal(err)
			}
			// They come again in a later Read: a plugin hands out what it
			// read ahead first.
			var again []string
			for range 10 {
				recs, err := src.Read(ctx, 3)
				if err != nil {
					t.Fatal(err)
				}
				for _, r := range recs {
					if n, _ := strconv.Atoi(r.ID); n < 4 {
						again = append(again, r.ID)
					}
				}
			}
			if !slices.Equal(again, []string{"1", "3"}) {
				t.Fatalf("records read again after the reread: %v; want 1, 3", again)
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
	// How soon the host sees the process gone depends on the machine's
	// load (once over 5 s in a full -race run); the bound is only there
	// so that a count that never fails ends the test with a message.
	deadline := time.Now().Add(2 * time.Minute)
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
