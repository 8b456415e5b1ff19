package rest

import "github.com/crmhub/crmhub/plugins/sdk"

// Connector is the declaration of the "rest" source and destination.
var Connector = sdk.Connector{
	Spec: sdk.Spec{
		Name:    "rest",
		Summary: "Pulls JSON records from HTTP APIs with pagination, incremental since-queries, auth, rate limits and retries; writes back by POST/PATCH.",
		Version: "v0.1.0",
		Author:  "crmhub",
		Kinds:   []sdk.Kind{sdk.KindSource, sdk.KindDestination},
		Params: []sdk.Param{
			{Name: "base_url", Type: sdk.TypeString, Required: true, Description: "Base URL the entity paths are relative to.", Example: "https://crm.example.com"},
			{Name: "auth", Type: sdk.TypeObject, Secret: true, Description: "Authentication: `{type: none|api_key|basic|bearer|oauth2, header, key, username, password, token, token_url, client_id, client_secret, scopes}`; `api_key` sends `key` in `header` (default `X-API-Key`), `oauth2` uses client credentials against `token_url` and refreshes the token when it expires or a request gets 401.", Fields: authFields},
			{Name: "rate_limit", Type: sdk.TypeString, Default: "10", Description: "Requests per second (a number, may be fractional)."},
			{Name: "timeout", Type: sdk.TypeDuration, Default: "30s", Description: "Timeout of one HTTP request."},
			{Name: "max_retries", Type: sdk.TypeInt, Default: "5", Description: "Retries of a request that got 429, 5xx or a network error, with exponential backoff honouring Retry-After."},
			{Name: "entities", Type: sdk.TypeList, Required: true, Description: "Endpoints; each an object with `name`, `path`, `records` (dot path of the record array; empty when the response is the array), `id` (record field holding its id), optional `updated_at` (field), `since_param` (query parameter for incremental pulls, RFC 3339 value), `overlap` (duration, default `1m`, subtracted from the since value), `pagination` `{type: page|offset|cursor|link|none, param, size_param, size, cursor_path, total_pages_path}`, `total_path` (dot path of the total record count in a list response, e.g. `meta.total`: lets reconciliation compare counts). As a destination: `name`, `path` (the collection: POST `{base_url}{path}` creates, PATCH `{base_url}{path}/{id}` updates, DELETE deletes), `id` (dot path of the new id in a create response, default `id`), optional `columns` (allow-list of payload fields) and `update_method` (`PATCH` default, or `PUT`).", Fields: entityFields},
		},
	},
	NewSource:      func() sdk.Source { return &Source{} },
	NewDestination: func() sdk.Destination { return &Destination{} },
}
