package deploy

import (
	"embed"
	"io/fs"
)

//go:embed quickstart
var quickstart embed.FS

// Quickstart returns the quickstart configuration: crmhub.yaml and
// mappings/*.yaml at its root.
func Quickstart() fs.FS {
	sub, err := fs.Sub(quickstart, "quickstart")
	if err != nil {
		panic(err) // the directory is embedded at build time
	}
	return sub
}

// QuickstartEnv is the environment crmhub.yaml expects: the hub's data
// directory, the directory hub/demo generated into, and the base URL of the
// demo server (which serves both the CRM and the service desk).
func QuickstartEnv(dataDir, demoDir, demoURL string) map[string]string {
	return map[string]string{
		"CRMHUB_DATA_DIR":             dataDir,
		"CRMHUB_DEMO_DIR":             demoDir,
		"CRMHUB_DEMO_CRM_URL":         demoURL,
		"CRMHUB_DEMO_SERVICEDESK_URL": demoURL,
	}
}
