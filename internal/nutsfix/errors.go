package nutsfix

import "errors"

// Errors callers branch on. storage re-exports both (storage.ErrCorrupt,
// storage.ErrLocked), so their text is storage's.
var (
	// ErrCorrupt marks a file whose contents fail their checks; the message
	// names the file. Open returns it for damage a repair cannot cut without
	// losing synced entries.
	ErrCorrupt = errors.New("storage: corrupt file")
	// ErrLocked: the directory is in use (here: already open in this
	// process, where a second repair could cut the first one's writes).
	ErrLocked = errors.New("storage: data directory in use")
)
