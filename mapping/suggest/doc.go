// Package suggest proposes a first mapping for an unfamiliar source from
// sample records (`crmhub mapping suggest`): per column a target, an
// expression and a confidence, judged from column names and from how many
// sample values the library's functions read (phones, e-mail addresses,
// countries, dates, money, yes/no). It is a tool on the language, above
// it: it reads the target schema's fields and calls registered functions
// through mapping's exported hooks (TargetFields, Call, Ident, Text) and
// the value functions of mapping/funcs directly.
package suggest
