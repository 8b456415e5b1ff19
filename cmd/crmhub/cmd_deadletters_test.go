package main

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/crmhub/crmhub/hub"
	"github.com/crmhub/crmhub/hub/httpapi"
	"github.com/crmhub/crmhub/hub/pipeline"
	"github.com/crmhub/crmhub/hub/store"
	"github.com/crmhub/crmhub/hub/store/deadletters"
)

// The CLI against the real API handler and store: list shows the reason,
// resolve closes the entry as the token's actor, replay reports the API's
// refusal of a source error.
func TestDeadLettersCLI(t *testing.T) {
	ctx := context.Background()
	s, err := store.Open(ctx, store.DriverSQLite, filepath.Join(t.TempDir(), "hub.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	dl := deadletters.New(s.DB())
	if _, err := dl.IndexDeadLetters(ctx, []hub.DeadLetterEntry{{ID: "crmhub.deadletter:0:7", DeadLetter: hub.DeadLetter{
		Connector: "finance", System: "finance", SourceEntity: "invoices", ReasonClass: hub.ReasonSource,
		Reason: "finance/invoices file a.csv line 9: 3 columns, want 5", Raw: []byte("x;y;z"), At: time.Now()}}}); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(httpapi.New(s, httpapi.Options{DeadLetters: &pipeline.DeadLetterService{Store: dl},
		Actor: func(r *http.Request) (string, bool) {
			tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
			return tok, ok
		}}))
	defer srv.Close()
	run := func(args ...string) (string, error) {
		var out bytes.Buffer
		root := newRootCmd()
		root.SetOut(&out)
		root.SetErr(&out)
		root.SetArgs(append(args, "--url", srv.URL, "--token", "ops"))
		err := root.ExecuteContext(ctx)
		return out.String(), err
	}
	out, err := run("deadletters", "list", "--reason-class", "source_error")
	if err != nil || !strings.Contains(out, "crmhub.deadletter:0:7") || !strings.Contains(out, "line 9: 3 columns") {
		t.Fatalf("list: %v\n%s", err, out)
	}
	if _, err := run("deadletters", "replay", "crmhub.deadletter:0:7"); err == nil || !strings.Contains(err.Error(), "409 conflict") {
		t.Fatalf("replay of a source error: %v", err)
	}
	if _, err := run("deadletters", "replay"); err == nil {
		t.Fatal("replay without an id or filter ran")
	}
	out, err = run("deadletters", "resolve", "crmhub.deadletter:0:7", "--note", "re-exported")
	if err != nil || !strings.Contains(out, "resolved by ops") {
		t.Fatalf("resolve: %v\n%s", err, out)
	}
	out, err = run("deadletters", "list")
	if err != nil || strings.Contains(out, "crmhub.deadletter:0:7") {
		t.Fatalf("open list after resolve: %v\n%s", err, out)
	}
}
