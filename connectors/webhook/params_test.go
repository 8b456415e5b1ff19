package webhook

import (
	"reflect"
	"testing"

	"github.com/crmhub/crmhub/plugins/sdk"
)

// handWritten is the parameter list as it was declared by hand before
// ParamsOf; the derived list must be the same, field for field.
var handWritten = []sdk.Param{
	{Name: "listen", Type: sdk.TypeString, Required: true, Description: "Address to listen on.", Example: ":8090"},
	{Name: "path", Type: sdk.TypeString, Default: "/webhook", Description: "URL path of the endpoint (POST)."},
	{Name: "secret", Type: sdk.TypeString, Required: true, Secret: true, Description: "Shared secret of the `X-Crmhub-Signature: t=<unix>,v1=<hex HMAC-SHA256 of \"<t>.<body>\">` header."},
	{Name: "tolerance", Type: sdk.TypeDuration, Default: "5m", Description: "Largest accepted difference between the signature timestamp and now (replay protection)."},
	{Name: "max_body", Type: sdk.TypeInt, Default: "1048576", Description: "Largest accepted body in bytes; larger requests get 413."},
	{Name: "entity", Type: sdk.TypeString, Default: "events", Description: "Entity of the records, unless the body has a string field `entity`."},
	{Name: "id_field", Type: sdk.TypeString, Default: "id", Description: "Body field holding the record ID; it is also the event id unless the `X-Crmhub-Event-Id` header is set."},
	{Name: "ack_timeout", Type: sdk.TypeDuration, Default: "30s", Description: "How long a request waits for the host's acknowledgement before it gets 503 (the sender retries)."},
}

func TestParamsDerivedFromConfig(t *testing.T) {
	got := sdk.ParamsOf(Config{})
	if !reflect.DeepEqual(got, handWritten) {
		t.Fatalf("ParamsOf(Config{}) differs from the hand-written list:\n got  %#v\n want %#v", got, handWritten)
	}
	if !reflect.DeepEqual(Connector.Spec.Params, handWritten) {
		t.Fatalf("Connector.Spec.Params differs from the hand-written list")
	}
}
