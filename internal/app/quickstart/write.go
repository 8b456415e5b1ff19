package quickstart

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/crmhub/crmhub/deploy"
	"github.com/crmhub/crmhub/hub/demo"
)

// Write copies the embedded quickstart config and mappings into
// dir once; after that they are the user's to edit. It returns the config path.
func Write(dir string) (string, error) {
	cfgPath := filepath.Join(dir, "crmhub.yaml")
	if _, err := os.Stat(cfgPath); err == nil {
		return cfgPath, nil
	}
	if err := os.CopyFS(dir, deploy.Quickstart()); err != nil && !errors.Is(err, fs.ErrExist) {
		return "", fmt.Errorf("write quickstart config: %w", err)
	}
	return cfgPath, nil
}

// ServeAPIs serves the simulated CRM and service desk APIs over the
// systems generated in dir on a free loopback port.
func ServeAPIs(dir string) (url string, stop func(), err error) {
	h, err := demo.NewServer(dir)
	if err != nil {
		return "", nil, fmt.Errorf("simulated APIs: %w", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, fmt.Errorf("simulated APIs: %w", err)
	}
	api := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = api.Serve(ln) }()
	return "http://" + ln.Addr().String(), func() { _ = api.Close() }, nil
}
