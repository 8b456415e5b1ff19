// Package conf validates a connector instance's settings against its
// declaration and decodes them into the connector's typed config, refusing
// unknown keys inside nested objects (a misspelt `tabel:` must not be
// silently ignored).
package conf

import (
	"bytes"
	"encoding/json"
	"fmt"

	"github.com/crmhub/crmhub/plugins/sdk"
)

// Decode validates cfg against spec (defaults applied) and decodes it into v
// strictly.
func Decode(spec sdk.Spec, cfg sdk.Config, v any) error {
	full, err := spec.Validate(cfg)
	if err != nil {
		return err
	}
	b, err := json.Marshal(full)
	if err != nil {
		return fmt.Errorf("%s: encode config: %w", spec.Name, err)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("%s: config: %w", spec.Name, err)
	}
	return nil
}
