package rest

import (
	"strings"
	"testing"

	"github.com/crmhub/crmhub/plugins/sdk"
)

// The declaration comes from the structs source and destination decode
// into (auth and pagination objects, entities items), so a mistake
// anywhere in them is refused at load by its path, for either role.
func TestNestedKeysCheckedAtLoad(t *testing.T) {
	ent := func(extra map[string]any) []any {
		e := map[string]any{"name": "contacts", "path": "/contacts", "id": "id"}
		for k, v := range extra {
			e[k] = v
		}
		return []any{e}
	}
	for _, tc := range []struct {
		name string
		cfg  sdk.Config
		want string
	}{
		{"auth key", sdk.Config{"auth": map[string]any{"type": "bearer", "tokn": "x"}, "entities": ent(nil)},
			"rest: auth.tokn: unknown key (did you mean token?)"},
		{"auth type", sdk.Config{"auth": map[string]any{"type": "kerberos"}, "entities": ent(nil)},
			`rest: auth.type: "kerberos": want one of none, api_key, basic, bearer, oauth2`},
		{"pagination key", sdk.Config{"entities": ent(map[string]any{"pagination": map[string]any{"tpye": "page"}})},
			"rest: entities[0].pagination.tpye: unknown key (did you mean type?)"},
		{"destination key", sdk.Config{"entities": ent(map[string]any{"update_mehtod": "PUT"})},
			"rest: entities[0].update_mehtod: unknown key (did you mean update_method?)"},
		{"required path", sdk.Config{"entities": []any{map[string]any{"name": "contacts"}}},
			"rest: entities[0].path: required"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := sdk.Config{"base_url": "https://crm.example.com"}
			for k, v := range tc.cfg {
				cfg[k] = v
			}
			_, err := Connector.Spec.Validate(cfg)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want %q", err, tc.want)
			}
		})
	}
	// Both roles' keys are accepted in one declaration; the auth object
	// is declared secret, so describe and the README never show a value.
	cfg := sdk.Config{"base_url": "https://crm.example.com", "entities": ent(map[string]any{
		"since_param": "since", "columns": []any{"email"}, "update_method": "PUT"})}
	if _, err := Connector.Spec.Validate(cfg); err != nil {
		t.Errorf("source and destination keys together: %v", err)
	}
	for _, p := range sdk.Flatten(Connector.Spec.Params) {
		switch p.Name {
		case "auth", "auth.key", "auth.password", "auth.token", "auth.client_secret":
			if !p.Secret {
				t.Errorf("%s is not declared secret", p.Name)
			}
		}
	}
}
