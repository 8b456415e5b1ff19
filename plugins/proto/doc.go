// Package proto holds the versioned wire protocol between the crmhub host and
// connector plugin processes: one sub-package per protocol version (v1), each
// with its .proto and the generated Go committed next to it. Connectors never
// import it; plugins/sdk adapts it to the sdk.Source and sdk.Destination
// interfaces.
//
// Regenerate with `go generate ./plugins/proto/` (needs protoc from Debian's
// protobuf-compiler and protoc-gen-go, protoc-gen-go-grpc on PATH).
package proto

//go:generate protoc --go_out=. --go_opt=paths=source_relative --go-grpc_out=. --go-grpc_opt=paths=source_relative v1/connector.proto
