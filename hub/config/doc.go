// Package config reads crmhub's one YAML file. Unknown keys and wrong types
// are errors naming the file, line and key, never silent defaults; ${VAR}
// and ${VAR:-default} are expanded from the environment so secrets stay out
// of the file; relative paths are resolved against the file's directory.
package config
