package config

import (
	"path/filepath"
	"testing"

	"github.com/crmhub/crmhub/plugins/sdk"
)

// A connector that declares state_dir gets a folder of its own under
// data_dir when the instance does not set one; an explicit one is kept,
// and a connector without the parameter gets nothing it would refuse.
func TestCheckConnectorsStateDir(t *testing.T) {
	specs := map[string]sdk.Spec{
		"stateful": {Name: "stateful", Params: []sdk.Param{{Name: "state_dir", Type: sdk.TypeString}, {Name: "x", Type: sdk.TypeString}}},
		"plain":    {Name: "plain", Params: []sdk.Param{{Name: "x", Type: sdk.TypeString}}},
	}
	data := t.TempDir()
	cfg := &Config{File: "crmhub.yaml", DataDir: data, Connectors: []Connector{
		{Name: "erp", Plugin: "stateful", Settings: map[string]any{"x": "1"}},
		{Name: "crm", Plugin: "stateful", Settings: map[string]any{"state_dir": "/srv/crm-state"}},
		{Name: "files", Plugin: "plain", Settings: map[string]any{"x": "1"}},
	}}
	got, err := CheckConnectors(cfg, func(p string) (sdk.Spec, error) { return specs[p], nil })
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(data, "connectors", "erp"); got[0]["state_dir"] != want {
		t.Errorf("erp state_dir = %v, want %s", got[0]["state_dir"], want)
	}
	if got[1]["state_dir"] != "/srv/crm-state" {
		t.Errorf("an explicit state_dir was replaced: %v", got[1]["state_dir"])
	}
	if _, ok := got[2]["state_dir"]; ok {
		t.Errorf("a connector without state_dir got one: %v", got[2])
	}
}
