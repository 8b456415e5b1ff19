package server

import (
	"os"
	"os/signal"
	"sync"
	"syscall"
)

// ReloadOnHangup reloads the mapping directory each time the process gets
// SIGHUP, until stop is called. This is how a fixed mapping reaches a
// running hub without a restart (a restart would re-read every source
// from its checkpoint and drop the runners' progress): the operator edits
// the file, sends `kill -HUP`, then replays the dead letters it caused
// (the replay maps with the reloaded set, see DeadLetterService.Mappings).
// A broken file is refused and logged; the running set stays.
func (s *Server) ReloadOnHangup() (stop func()) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	done := make(chan struct{})
	go func() {
		for {
			select {
			case <-hup:
				_ = s.ReloadMappings() // logged; the running mappings stay
			case <-done:
				return
			}
		}
	}()
	var once sync.Once
	return func() {
		once.Do(func() {
			signal.Stop(hup)
			close(done)
		})
	}
}
