package host

import (
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"

	"gopkg.in/yaml.v3"

	"github.com/crmhub/crmhub/plugins/sdk"
)

// ManifestFile is the name of the manifest inside each plugin folder.
const ManifestFile = "manifest.yaml"

// Manifest describes an external plugin: <PluginDir>/<name>/manifest.yaml.
type Manifest struct {
	Name            string `yaml:"name"`
	Version         string `yaml:"version"`
	ProtocolVersion int    `yaml:"protocol_version"`
	// SHA256 is the hex SHA-256 of the binary; the host refuses to run a
	// binary that does not match.
	SHA256 string `yaml:"sha256"`
	// Binary is the executable's path relative to the plugin folder.
	Binary string `yaml:"binary"`
}

// external is one discovered plugin folder.
type external struct {
	dir      string
	manifest Manifest
	binary   string // absolute path
	checksum []byte
}

// readManifest loads and checks one plugin folder.
func readManifest(dir string) (*external, error) {
	path := filepath.Join(dir, ManifestFile)
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read plugin manifest: %w", err)
	}
	var m Manifest
	if err := yaml.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("plugin manifest %s: %w", path, err)
	}
	var errs []error
	if m.Name == "" {
		errs = append(errs, errors.New("name is required"))
	} else if m.Name != filepath.Base(dir) {
		errs = append(errs, fmt.Errorf("name %q must equal the folder name %q", m.Name, filepath.Base(dir)))
	}
	if m.ProtocolVersion != sdk.ProtocolVersion {
		errs = append(errs, fmt.Errorf("protocol_version %d: %w (host speaks %d)", m.ProtocolVersion, ErrIncompatible, sdk.ProtocolVersion))
	}
	sum, err := hex.DecodeString(m.SHA256)
	if err != nil || len(sum) != 32 {
		errs = append(errs, fmt.Errorf("sha256 %q is not a hex SHA-256", m.SHA256))
	}
	if m.Binary == "" || !filepath.IsLocal(m.Binary) {
		errs = append(errs, fmt.Errorf("binary %q must be a path inside the plugin folder", m.Binary))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("plugin manifest %s: %w", path, err)
	}
	abs, err := filepath.Abs(filepath.Join(dir, m.Binary))
	if err != nil {
		return nil, fmt.Errorf("plugin manifest %s: %w", path, err)
	}
	return &external{dir: dir, manifest: m, binary: abs, checksum: sum}, nil
}

// discover lists plugin folders (those holding a manifest) in dir, sorted.
func discover(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil // no external plugins installed: built-ins only
	}
	if err != nil {
		return nil, fmt.Errorf("read plugin dir: %w", err)
	}
	var out []string
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		p := filepath.Join(dir, e.Name())
		if _, err := os.Stat(filepath.Join(p, ManifestFile)); err == nil {
			out = append(out, p)
		}
	}
	sort.Strings(out)
	return out, nil
}
