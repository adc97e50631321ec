package remote_test

import (
	"fmt"
	"io"
	"log/slog"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/rsml-go/rsml/msg"
	"github.com/rsml-go/rsml/remote"
)

// Two replicas in one process: each has its own ActorSystem, attached to the
// network before it spawns anything, and its own Book.
func ExampleNetwork() {
	net := remote.NewNetwork(1)
	defer net.Close()
	ids := []msg.NodeID{1, 2}
	books := map[msg.NodeID]*remote.Book{}
	systems := map[msg.NodeID]*actor.ActorSystem{}
	got := make(chan string, 1)
	for _, id := range ids {
		sys := actor.NewActorSystem(actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger {
			return slog.New(slog.NewTextHandler(io.Discard, nil))
		}))
		defer sys.Shutdown()
		net.Attach(id, sys)
		book, err := remote.NewBook(id, net.Addrs(ids...))
		if err != nil {
			panic(err)
		}
		books[id], systems[id] = book, sys
		acceptor := actor.PropsFromFunc(func(ctx actor.Context) {
			if s, ok := ctx.Message().(string); ok {
				got <- fmt.Sprintf("%s/%s got %q", ctx.Self().Address, ctx.Self().Id, s)
			}
		})
		if _, err := sys.Root.SpawnNamed(acceptor, remote.ActorName(msg.RoleAcceptor)); err != nil {
			panic(err)
		}
	}

	systems[1].Root.Send(books[1].PID(2, msg.RoleAcceptor), "hello")
	fmt.Println(<-got)

	net.Block(1, 2)
	systems[1].Root.Send(books[1].PID(2, msg.RoleAcceptor), "lost")
	fmt.Printf("%+v\n", net.Stats())
	// Output:
	// r2/rsml/acceptor got "hello"
	// {Sent:2 Delivered:1 Dropped:1 Duplicated:0 DeadLetters:0}
}
