package webhook

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/crmhub/crmhub/plugins/sdk"
	"github.com/crmhub/crmhub/plugins/sdk/sdktest"
)

// The webhook connector runs the source acceptance suite every connector
// runs (plugins/sdk/sdktest) as a push source: signed deliveries from
// other goroutines, each answered once the suite acked it.
func TestAcceptanceSource(t *testing.T) {
	const n = 5
	cfg := sdk.Config{"listen": "127.0.0.1:0", "secret": secret, "ack_timeout": "20s"}
	sdktest.AcceptSource(t, Connector, cfg, sdktest.Options{
		MinRecords: n, BatchSize: 2,
		Push: func(t *testing.T, src sdk.Source) {
			addr := src.(*Source).Addr()
			for i := range n {
				go deliver(addr, fmt.Sprintf(`{"id": "c-%d", "entity": "contacts", "n": %d}`, i, i))
			}
		},
	})
}

// deliver posts one signed event; the answer does not matter to the suite,
// which judges what the source hands out.
func deliver(addr, body string) {
	req, err := http.NewRequest(http.MethodPost, "http://"+addr+"/webhook", strings.NewReader(body))
	if err != nil {
		return
	}
	req.Header.Set("X-Crmhub-Signature", SignatureHeader(secret, time.Now().Unix(), []byte(body)))
	if resp, err := http.DefaultClient.Do(req); err == nil {
		resp.Body.Close()
	}
}
