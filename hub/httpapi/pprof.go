package httpapi

import "net/http/pprof"

// profilingRoutes serves Go's runtime profiles (CPU, heap, goroutines,
// traces) for finding where a running hub spends its time. Not in
// routeAccess: only admin tokens reach them. Off unless http.pprof is set,
// because a profile shows internals and a CPU profile costs while it runs.
func profilingRoutes(mux *routeMux) {
	mux.HandleFunc("GET /debug/pprof/", pprof.Index) // named profiles: heap, goroutine, allocs, block, mutex
	mux.HandleFunc("GET /debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("GET /debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
}
