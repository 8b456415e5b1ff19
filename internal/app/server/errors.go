package server

import (
	"errors"

	"github.com/crmhub/crmhub/plugins/sdk"
)

// unjoin splits an errors.Join result back into its parts.
func unjoin(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}

// paramName is the settings key a declaration error is about, so the
// error can point at its line.
func paramName(err error) string {
	var pe *sdk.ParamError
	if errors.As(err, &pe) {
		return pe.Path
	}
	return ""
}
