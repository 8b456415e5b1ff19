package main

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// The latency bench sees every change it sends, once, in the change feed,
// and confirms the sampled ones in the API; a customer gets its next change
// only after the last one was seen.
func TestLatencyBenchSeesEveryChange(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a hub")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	r, err := runLatencyBench(ctx, latencyOpts{rate: 200, duration: time.Second, customers: 20, confirmEvery: 3,
		inProcess: true, timeout: 3 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	if r.Sent != 200 || r.Seen != r.Sent || r.Confirmed != 67 {
		t.Errorf("sent %d, seen %d, confirmed %d; want 200 sent, every one seen, every third (67) confirmed by GET", r.Sent, r.Seen, r.Confirmed)
	}
	if !(r.P50ms <= r.P95ms && r.P95ms <= r.P99ms && r.P99ms <= r.MaxMs) || r.P50ms < 0 {
		t.Errorf("percentiles out of order: %+v", r)
	}
	// A change shows in the feed before the GET that confirms it returns,
	// change by change (the percentiles of the confirmed third and of all
	// changes are of different populations: they may come in any order).
	if r.ConfirmedEarly != 0 {
		t.Errorf("%d changes confirmed before visible: %+v", r.ConfirmedEarly, r)
	}
}

// A 503 from the webhook ("not yet durable, retry") is retried with the
// same event id until it is taken; another status is an error at once.
func TestLatencySendRetriesUnavailable(t *testing.T) {
	var calls atomic.Int32
	var ids sync.Map
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ids.Store(r.Header.Get("X-Crmhub-Event-Id"), true)
		switch n := calls.Add(1); {
		case r.Header.Get("X-Crmhub-Event-Id") == "bad":
			w.WriteHeader(http.StatusBadRequest)
		case n < 3:
			http.Error(w, "not yet durable, retry", http.StatusServiceUnavailable)
		default:
			w.WriteHeader(http.StatusOK) // durable meanwhile: the retry is answered 200
		}
	}))
	defer srv.Close()
	h := &latencyHub{hook: srv.URL, client: srv.Client()}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := h.send(ctx, "e-1", []byte(`{}`)); err != nil {
		t.Fatalf("send after two 503s: %v", err)
	}
	if n := calls.Load(); n != 3 {
		t.Errorf("%d requests, want 3 (two 503s, then taken)", n)
	}
	if err := h.send(ctx, "bad", []byte(`{}`)); err == nil || !strings.Contains(err.Error(), "400") {
		t.Errorf("a 400 gave %v, want an error naming it", err)
	}
	n := 0
	ids.Range(func(any, any) bool { n++; return true })
	if n != 2 {
		t.Errorf("%d event ids seen, want 2: a retry keeps its event id", n)
	}
}
