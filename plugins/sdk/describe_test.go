package sdk_test

import (
	"strings"
	"testing"

	"github.com/crmhub/crmhub/plugins/sdk"
)

func TestDescribeText(t *testing.T) {
	spec := sdk.Spec{
		Name: "erp", Version: "1.2.0", Summary: "Reads the ERP.", Kinds: []sdk.Kind{sdk.KindSource},
		Params: []sdk.Param{
			{Name: "dsn", Type: sdk.TypeString, Required: true, Secret: true, Description: "Connection string."},
			{Name: "batch_size", Type: sdk.TypeInt, Default: "500", Description: "Rows per read.", Example: "1000"},
		},
	}
	got := sdk.DescribeText(spec)
	for _, want := range []string{"erp 1.2.0", "Reads the ERP.", "kinds:  source", "dsn", "[secret]", "batch_size", "500", "(example: 1000)"} {
		if !strings.Contains(got, want) {
			t.Errorf("describe output lacks %q:\n%s", want, got)
		}
	}
	lines := strings.Split(got, "\n")
	var dsnLine string
	for _, l := range lines {
		if strings.Contains(l, "dsn") {
			dsnLine = l
		}
	}
	if !strings.Contains(dsnLine, "yes") {
		t.Errorf("dsn should be marked required: %q", dsnLine)
	}
	if got := sdk.DescribeText(sdk.Spec{Name: "bare"}); !strings.Contains(got, "No parameters.") {
		t.Errorf("bare spec: %q", got)
	}
}
