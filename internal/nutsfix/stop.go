//go:build !race

package nutsfix

import (
	"reflect"
	"unsafe"

	"github.com/nutsdb/nutsdb"
)

// stopWriter ends the goroutine a closed nutsdb v1.1.0 DB leaves in
// doWrites, blocked receiving on the unexported writeCh, which nothing
// closes (only CommitWith sends there; Update commits synchronously,
// so the goroutine sits idle at that receive). Closing the channel alone
// would spin it: after a close it drains writeCh in a select whose default
// ends it, and a closed channel never reaches the default. So the field is
// set to nil first (a nil channel is never ready), then the old channel is
// closed: the goroutine wakes, finds nothing to write, and returns. The field
// write happens before the close, which happens before the goroutine wakes,
// so it sees nil.
//
// That needs the goroutine to be blocked on the old channel already: one
// that had not yet run would read the nil field and block forever. So it is
// done only for a DB whose writer awaitWriter saw waiting, and not at all
// if the field is not there (another nutsdb).
//
// The race detector cannot see that the goroutine's last read of the field
// came before it parked, and reports the write; race builds leave the
// goroutine (stop_race.go).
func stopWriter(db *nutsdb.DB) {
	if _, ok := waitingWriters.LoadAndDelete(db); !ok {
		return
	}
	f := reflect.ValueOf(db).Elem().FieldByName("writeCh")
	if !f.IsValid() || f.Kind() != reflect.Chan || f.Type().ChanDir() != reflect.BothDir {
		return
	}
	f = reflect.NewAt(f.Type(), unsafe.Pointer(f.UnsafeAddr())).Elem()
	ch := reflect.ValueOf(f.Interface())
	if ch.IsNil() {
		return
	}
	f.Set(reflect.Zero(f.Type()))
	ch.Close()
}
