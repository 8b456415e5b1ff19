// Package textenc names the text encodings crmhub reads and writes (the
// file connector's `encoding`, bench quality's --encoding): one table, so
// the two accept the same names.
package textenc
