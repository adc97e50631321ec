package node

import (
	"sync"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/rsml-go/rsml/msg"
)

// roleSpec is how the supervisor (re)creates one role.
type roleSpec struct {
	role  msg.Role
	props *actor.Props
}

// supervisor is the replica's parent actor: it spawns the roles under their
// well-known names, and drives every role's clock with one ticker. Its
// strategy (restarts) restarts a panicking role in place, and past its limit
// takes the replica down.
type supervisor struct {
	specs    []roleSpec
	tick     time.Duration
	onSpawn  func(msg.Role, *actor.PID)
	children map[string]*actor.PID
	stopping bool
	stopTick chan struct{}
	ticking  sync.WaitGroup
}

func (s *supervisor) Receive(ctx actor.Context) {
	switch ctx.Message().(type) {
	case *actor.Started:
		s.children = map[string]*actor.PID{}
		for _, sp := range s.specs {
			s.spawn(ctx, sp)
		}
		s.startTicker(ctx.ActorSystem())
	case *actor.Stopping:
		s.stopping = true
		s.stopTicker()
	}
}

func (s *supervisor) spawn(ctx actor.Context, sp roleSpec) {
	pid, err := ctx.SpawnNamed(sp.props, sp.role.String())
	if err != nil {
		ctx.Logger().Error("cannot spawn role", "role", sp.role.String(), "err", err)
		return
	}
	s.children[sp.role.String()] = pid
	if s.onSpawn != nil {
		s.onSpawn(sp.role, pid)
	}
}

func (s *supervisor) startTicker(sys *actor.ActorSystem) {
	s.stopTick = make(chan struct{})
	pids := make([]*actor.PID, 0, len(s.specs))
	for _, sp := range s.specs {
		// Fresh PIDs by name: they resolve to whichever instance is current.
		pids = append(pids, actor.NewPID(sys.Address(), s.children[sp.role.String()].Id))
	}
	stop := s.stopTick
	s.ticking.Add(1)
	go func() {
		defer s.ticking.Done()
		t := time.NewTicker(s.tick)
		defer t.Stop()
		tick := &msg.Tick{}
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				for _, pid := range pids {
					sys.Root.Send(pid, tick)
				}
			}
		}
	}()
}

func (s *supervisor) stopTicker() {
	if s.stopTick != nil {
		close(s.stopTick)
		s.stopTick = nil
		s.ticking.Wait()
	}
}
