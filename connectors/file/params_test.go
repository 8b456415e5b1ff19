package file

import (
	"reflect"
	"testing"

	"github.com/crmhub/crmhub/plugins/sdk"
)

var handFileFields = []sdk.Param{
	{Name: "pattern", Type: sdk.TypeString, Description: "Glob relative to dir (source)."},
	{Name: "entity", Type: sdk.TypeString, Required: true, Description: "Entity of the records."},
	{Name: "format", Type: sdk.TypeString, OneOf: []string{"csv", "fixed", "jsonl"}, Description: "File format (a destination writes csv)."},
	{Name: "encoding", Type: sdk.TypeString, OneOf: encodingNames, FoldCase: true, Description: "Character encoding (default utf-8; any case)."},
	{Name: "delimiter", Type: sdk.TypeString, Description: "CSV field delimiter (default `,`; `\\t` for tab)."},
	{Name: "quote", Type: sdk.TypeString, Description: "CSV quote character (default `\"`)."},
	{Name: "comment", Type: sdk.TypeString, Description: "Line prefix of lines to skip."},
	{Name: "header", Type: sdk.TypeBool, Description: "First line holds the column names (default true unless columns is set)."},
	{Name: "columns", Type: sdk.TypeList, Description: "Column names (source without header) or export columns in order (destination)."},
	{Name: "key", Type: sdk.TypeString, Description: "Column used as record ID."},
	{Name: "updated_at", Type: sdk.TypeString, Description: "Column holding the change time."},
	{Name: "updated_at_format", Type: sdk.TypeString, Description: "Go layout of updated_at (default RFC 3339)."},
	{Name: "layout", Type: sdk.TypeList, Description: "Fixed-width columns.", Fields: []sdk.Param{
		{Name: "name", Type: sdk.TypeString, Required: true, Description: "Column name."},
		{Name: "start", Type: sdk.TypeInt, Required: true, Description: "First character, 1-based."},
		{Name: "length", Type: sdk.TypeInt, Required: true, Description: "Width in characters."},
	}},
	{Name: "name", Type: sdk.TypeString, Description: "Destination file name prefix (default the entity)."},
	{Name: "rotate", Type: sdk.TypeString, Description: "Destination: `day` (one file per local day, default) or `run`."},
	{Name: "op_column", Type: sdk.TypeString, Description: "Destination: extra column holding upsert or delete."},
}
var handWritten = []sdk.Param{
	{Name: "dir", Type: sdk.TypeString, Required: true, Description: "Watched directory (source) or output directory (destination).", Example: "/data/finance/export"},
	{Name: "archive_dir", Type: sdk.TypeString, Description: "Where fully acknowledged files are moved; defaults to `<dir>/archive`."},
	{Name: "quarantine_dir", Type: sdk.TypeString, Description: "Where unreadable files are moved, with a `<file>.reason.txt`; defaults to `<dir>/quarantine`."},
	{Name: "stable_for", Type: sdk.TypeDuration, Default: "2s", Description: "A file is read once its size and mtime did not change for this long."},
	{Name: "timezone", Type: sdk.TypeTimezone, Default: "UTC", Description: "IANA time zone of `updated_at` values written without one (exports of old systems are in local time); for a destination, the local day of `rotate: day`.", Example: "Europe/Berlin"},
	{Name: "done_marker", Type: sdk.TypeBool, Default: "false", Description: "Read `x.csv` only once `x.csv.done` exists (then stable_for is not used)."},
	{Name: "files", Type: sdk.TypeList, Required: true, Description: "File kinds; each an object with `pattern` (glob relative to dir), `entity`, `format` (`csv`, `fixed`, `jsonl`), `encoding` (`utf-8` default, `windows-1252`, `iso-8859-1`, `gb18030`, `shift-jis`), `delimiter` (default `,`), `quote` (default `\"`), `comment` (line prefix to skip, e.g. `#`), `header` (bool, default true unless `columns` is set) or `columns` (list of names), `key` (column used as record ID), `updated_at` (optional column), `updated_at_format` (Go layout, e.g. `02.01.2006 15:04:05`; default RFC 3339), `layout` (fixed only: list of `{name, start, length}`, start 1-based). As a destination each item is a CSV export: `entity`, `columns` (header order and allow-list: a record with any other field is refused), optional `name` (file name prefix, default the entity), `rotate` (`day`: one file per local day, default; `run`: one file per run), `encoding`, `delimiter`, `key` (column filled with the record ID when the payload lacks it) and `op_column` (extra column holding `upsert` or `delete`; without it deletes are refused).", Fields: handFileFields},
}

func TestParamsDerivedFromConfig(t *testing.T) {
	got := sdk.ParamsOf(params{}, sdk.WithOneOf("files.encoding", encodingNames...))
	if !reflect.DeepEqual(got, handWritten) {
		t.Fatalf("derived list differs from the hand-written one:\n got  %#v\n want %#v", got, handWritten)
	}
	if !reflect.DeepEqual(Connector.Spec.Params, handWritten) {
		t.Fatal("Connector.Spec.Params differs from the hand-written list")
	}
}
