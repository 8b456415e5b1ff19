package file

import "github.com/crmhub/crmhub/plugins/sdk"

// Connector is the declaration of the "file" source and destination.
var Connector = sdk.Connector{
	Spec: sdk.Spec{
		Name:    "file",
		Summary: "Reads CSV, fixed-width and JSON-lines exports dropped into a directory; writes CSV exports.",
		Version: "v0.1.0",
		Author:  "crmhub",
		Kinds:   []sdk.Kind{sdk.KindSource, sdk.KindDestination},
		// Declared once, by the tags of params (below) and the structs it embeds.
		Params: sdk.ParamsOf(params{}, sdk.WithOneOf("files.encoding", encodingNames...)),
	},
	NewSource:      func() sdk.Source { return &Source{} },
	NewDestination: func() sdk.Destination { return &Destination{} },
}

// params declares the keys of both kinds at once, as one list, because the
// hub validates an instance's settings before it knows whether the instance
// is used as a source or a destination. It is a declaration-only struct:
// Config (source) and DestConfig (destination) each decode a subset, so the
// `files` items are FileConfig's keys plus those only a destination reads.
type params struct {
	Config
	Files []fileParams "json:\"files\" param:\"required\" doc:\"File kinds; each an object with `pattern` (glob relative to dir), `entity`, `format` (`csv`, `fixed`, `jsonl`), `encoding` (`utf-8` default, `windows-1252`, `iso-8859-1`, `gb18030`, `shift-jis`), `delimiter` (default `,`), `quote` (default `\\\"`), `comment` (line prefix to skip, e.g. `#`), `header` (bool, default true unless `columns` is set) or `columns` (list of names), `key` (column used as record ID), `updated_at` (optional column), `updated_at_format` (Go layout, e.g. `02.01.2006 15:04:05`; default RFC 3339), `layout` (fixed only: list of `{name, start, length}`, start 1-based). As a destination each item is a CSV export: `entity`, `columns` (header order and allow-list: a record with any other field is refused), optional `name` (file name prefix, default the entity), `rotate` (`day`: one file per local day, default; `run`: one file per run), `encoding`, `delimiter`, `key` (column filled with the record ID when the payload lacks it) and `op_column` (extra column holding `upsert` or `delete`; without it deletes are refused).\""
}

// fileParams is a `files` item as declared: the source's keys (FileConfig)
// then the destination-only ones (ExportFile has them too).
type fileParams struct {
	FileConfig
	Name     string `json:"name" doc:"Destination file name prefix (default the entity)."`
	Rotate   string "json:\"rotate\" doc:\"Destination: `day` (one file per local day, default) or `run`.\""
	OpColumn string `json:"op_column" doc:"Destination: extra column holding upsert or delete."`
}
