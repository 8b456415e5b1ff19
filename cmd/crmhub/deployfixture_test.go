package main

import (
	"context"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"

	"github.com/crmhub/crmhub/hub/demo"
)

// deployFixture is what the deploy end-to-end tests share: generated demo
// systems in a temp dir, the JSON-lines plugin installed as an external
// plugin, the quickstart's connectors pointed at them, a `crmhub broker`
// with SCRAM, and the service desk's REST API served over httptest.
type deployFixture struct {
	dir, pluginDir string
	man            *demo.Manifest
	connectors     []any
	broker         *hubProc
	brokerAddr     string
	serviceDesk    *httptest.Server
}

func newDeployFixture(t *testing.T, seed int64, people int) *deployFixture {
	t.Helper()
	f := &deployFixture{dir: t.TempDir()}
	man, err := demo.Generate(context.Background(), demo.Options{Dir: f.dir, Seed: seed, People: people})
	if err != nil {
		t.Fatal(err)
	}
	f.man = man
	f.pluginDir = filepath.Join(f.dir, "plugins")
	installJSONLPlugin(t, f.pluginDir)
	f.connectors = quickstartConnectors(t, contactsAsJSONL(t, f.dir))
	f.broker, f.brokerAddr = startBroker(t, filepath.Join(f.dir, "broker"))
	sd, err := demo.NewServer(f.dir)
	if err != nil {
		t.Fatal(err)
	}
	f.serviceDesk = httptest.NewServer(sd)
	t.Cleanup(f.serviceDesk.Close)
	return f
}

// env is the environment a hub process of the fixture runs with: the
// broker, the PostgreSQL store dsn and the demo systems' locations.
func (f *deployFixture) env(dsn, logLevel string) []string {
	return append(os.Environ(), "CRMHUB_KAFKA_BROKERS="+f.brokerAddr, "CRMHUB_POSTGRES_DSN="+dsn,
		"CRMHUB_KAFKA_PASSWORD="+kafkaPassword, "CRMHUB_DEMO_DIR="+f.dir,
		"CRMHUB_DEMO_SERVICEDESK_URL="+f.serviceDesk.URL, "CRMHUB_LOG_LEVEL="+logLevel)
}
