package grace

import (
	"context"
	"testing"
	"time"
)

func TestOutliveSurvivesCancelUntilItsOwn(t *testing.T) {
	ctx, stop := context.WithCancel(context.Background())
	octx, cancel := Outlive(ctx, time.Hour)
	stop()
	if err := octx.Err(); err != nil {
		t.Fatalf("the outliving context ended with its parent: %v", err)
	}
	cancel()
	<-octx.Done() // ends when its own cancel is called
}

func TestOutliveEndsAfterTheGrace(t *testing.T) {
	ctx, stop := context.WithCancel(context.Background())
	octx, cancel := Outlive(ctx, 0)
	defer cancel()
	if err := octx.Err(); err != nil {
		t.Fatalf("the outliving context ended before its parent: %v", err)
	}
	stop()
	<-octx.Done() // a zero grace ends it once the parent ended
}
