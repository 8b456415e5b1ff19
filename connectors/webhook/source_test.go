package webhook

import (
	"bytes"
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/crmhub/crmhub/connectors/internal/readme"
	"github.com/crmhub/crmhub/plugins/sdk"
)

func TestREADME(t *testing.T) { readme.Check(t, Connector.Spec, "README.md") }

const secret = "0123456789abcdef-secret"

func start(t *testing.T) *Source {
	t.Helper()
	s := Connector.NewSource().(*Source)
	ctx := context.Background()
	if err := s.Configure(ctx, sdk.Config{"listen": "127.0.0.1:0", "secret": secret, "max_body": 256, "ack_timeout": "5s"}); err != nil {
		t.Fatal(err)
	}
	if err := s.Open(ctx, nil); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Teardown(context.Background()) })
	return s
}

func post(t *testing.T, s *Source, body string, ts time.Time, sec string, event string) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, "http://"+s.Addr()+"/webhook", strings.NewReader(body))
	req.Header.Set("X-Crmhub-Signature", SignatureHeader(sec, ts.Unix(), []byte(body)))
	if event != "" {
		req.Header.Set("X-Crmhub-Event-Id", event)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func TestAnswersOnlyAfterAck(t *testing.T) {
	s := start(t)
	body := `{"id": "c-1", "entity": "contacts", "email": "x@example.com"}`
	status := make(chan int, 1)
	go func() { status <- post(t, s, body, time.Now(), secret, "") }()
	var recs []sdk.Record
	for len(recs) == 0 {
		var err error
		if recs, err = s.Read(context.Background(), 10); err != nil {
			t.Fatal(err)
		}
	}
	if recs[0].ID != "c-1" || recs[0].Entity != "contacts" || !bytes.Equal(recs[0].Payload, []byte(body)) {
		t.Fatalf("record %+v", recs[0])
	}
	select {
	case code := <-status:
		t.Fatalf("answered %d before the ack", code)
	case <-time.After(200 * time.Millisecond):
	}
	if err := s.Ack(context.Background(), recs[0].Position); err != nil {
		t.Fatal(err)
	}
	if code := <-status; code != http.StatusAccepted {
		t.Fatalf("status %d", code)
	}
	// A retried delivery of the same event is answered without a new record.
	if code := post(t, s, body, time.Now(), secret, ""); code != http.StatusOK {
		t.Fatalf("duplicate status %d", code)
	}
	if recs, _ := s.Read(context.Background(), 10); len(recs) != 0 {
		t.Fatalf("duplicate produced %d records", len(recs))
	}
}

func TestRejects(t *testing.T) {
	s := start(t)
	body := `{"id": "c-2"}`
	cases := []struct {
		name string
		body string
		ts   time.Time
		sec  string
		want int
	}{
		{"wrong secret", body, time.Now(), "another-secret-entirely", http.StatusUnauthorized},
		{"replayed", body, time.Now().Add(-10 * time.Minute), secret, http.StatusUnauthorized},
		{"too large", `{"id": "c-3", "x": "` + strings.Repeat("a", 300) + `"}`, time.Now(), secret, http.StatusRequestEntityTooLarge},
		{"no id", `{"name": "x"}`, time.Now(), secret, http.StatusBadRequest},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := post(t, s, tc.body, tc.ts, tc.sec, ""); got != tc.want {
				t.Errorf("status %d, want %d", got, tc.want)
			}
		})
	}
	if recs, _ := s.Read(context.Background(), 10); len(recs) != 0 {
		t.Fatalf("rejected requests produced %d records", len(recs))
	}
}
