package writeback

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	fileconn "github.com/crmhub/crmhub/connectors/file"
	"github.com/crmhub/crmhub/hub"
	"github.com/crmhub/crmhub/hub/bus"
	"github.com/crmhub/crmhub/mapping"
	"github.com/crmhub/crmhub/plugins/sdk"
)

const financeReverse = `mapping: finance_wb
version: 1
source: {entity: customer}
target: {system: finance, entity: debtors}
fields:
  email: 'emails != nil && len(emails) > 0 ? emails[0] : nil'
  phone: 'phones != nil && len(phones) > 0 ? phones[0] : nil'
`

// TestExportSendsFinanceNothingOfItsOwn: finance's debtors hold e-mails but
// no phones. The first state exports each debtor's phone (finance lacks
// it); when finance then changes 200 e-mails itself, the golden changes
// that follow carry finance's own values: nothing goes back to finance.
func TestExportSendsFinanceNothingOfItsOwn(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	dir := t.TempDir()
	out := filepath.Join(dir, "out")
	cfg, err := fileconn.Connector.Spec.Validate(sdk.Config{"dir": out, "files": []any{
		map[string]any{"entity": "debtors", "name": "DEBTORS", "columns": []any{"id", "email", "phone"}, "key": "id"}}})
	if err != nil {
		t.Fatal(err)
	}
	dest := fileconn.Connector.NewDestination()
	if err := dest.Configure(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	if err := dest.Open(ctx); err != nil {
		t.Fatal(err)
	}
	defer dest.Teardown(context.Background())
	reg := prometheus.NewRegistry()
	log := slog.New(slog.DiscardHandler)
	b, err := bus.Open(ctx, bus.Config{EmbeddedListen: "127.0.0.1:0", TopicPrefix: "wb", Partitions: 1}, reg, log)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	topics := hub.Topics{Prefix: "wb"}
	m, err := mapping.Parse("finance_wb.yaml", []byte(financeReverse))
	if err != nil {
		t.Fatal(err)
	}
	metrics := NewMetrics(reg)
	consumer := b.NewConsumer("crmhub-writeback-finance", []string{topics.GoldenChanges()})
	defer consumer.Close()
	w := &Writer{Target: Target{Name: "finance", System: "finance", Entity: "debtors", Mapping: m, Fields: []string{"email", "phone"}, Whole: true},
		Destination: dest, Consumer: consumer, Ledger: openLedger(ctx, t, dir), Publisher: b, Topics: topics, Metrics: metrics, Logger: log}
	rctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- w.Run(rctx) }()
	defer func() { stop(); <-done }()

	const n = 200
	publishAll := func(email func(i int) string) {
		t.Helper()
		at := time.Now().UTC()
		for i := range n {
			id := fmt.Sprintf("g-%d", i)
			debtor := hub.SourceRecordRef{System: "finance", SourceEntity: "debtors", SourceID: fmt.Sprintf("D%d", i), UpdatedAt: at,
				Customer: hub.Customer{Kind: "person", Emails: []string{email(i)}}}
			crm := hub.SourceRecordRef{System: "crm", SourceEntity: "contacts", SourceID: fmt.Sprintf("C%d", i), UpdatedAt: at.Add(-time.Hour),
				Customer: hub.Customer{Kind: "person", Phones: []string{fmt.Sprintf("+49301%05d", i)}}}
			st := hub.GoldenState{ID: id, Customer: hub.Customer{Kind: "person", Emails: []string{email(i)}, Phones: []string{fmt.Sprintf("+49301%05d", i)}},
				Sources: []hub.SourceRecordRef{debtor, crm}, UpdatedAt: at}
			v, _ := json.Marshal(st)
			if err := b.Publish(ctx, bus.Message{Topic: topics.GoldenChanges(), Key: []byte(id), Value: v}); err != nil {
				t.Fatal(err)
			}
		}
	}
	handled := func() float64 {
		v := testutil.ToFloat64(metrics.Records.WithLabelValues("finance", "written"))
		for _, r := range []string{SkipUnchanged, SkipSystemHas} {
			v += testutil.ToFloat64(metrics.Skipped.WithLabelValues("finance", r))
		}
		return v
	}
	wait := func(want float64) {
		t.Helper()
		deadline := time.Now().Add(60 * time.Second)
		for handled() < want {
			if time.Now().After(deadline) {
				t.Fatalf("handled %v states, want %v", handled(), want)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	// Lines exported: the records the destination wrote.
	written := func() int { return int(testutil.ToFloat64(metrics.Records.WithLabelValues("finance", "written"))) }
	publishAll(func(i int) string { return fmt.Sprintf("d%d@old.example", i) })
	wait(n)
	if lines := written(); lines != n {
		t.Fatalf("first export: %d lines, want %d (each debtor's phone, which finance lacks)", lines, n)
	}
	// Finance changes every e-mail itself.
	publishAll(func(i int) string { return fmt.Sprintf("d%d@new.example", i) })
	wait(2 * n)
	if lines := written(); lines != n {
		t.Errorf("finance's own e-mail change exported %d lines back to finance, want 0", lines-n)
	}
	if err := dest.Teardown(ctx); err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob(filepath.Join(out, "*"))
	var text strings.Builder
	for _, f := range files {
		b, _ := os.ReadFile(f)
		text.Write(b)
	}
	if !strings.Contains(text.String(), "d7@old.example") || !strings.Contains(text.String(), "+493010000") {
		t.Errorf("export lines lack whole records (e-mail and phone):\n%.300s", text.String())
	}
}
