package app

import (
	"fieldsync/localstore"
	"fieldsync/syncqueue"
)

// StoreOf is the device store under a, for this package's tests to look
// at and set up what the facade does not offer. It is not part of app.
func StoreOf(a *App) *localstore.Store { return a.store }

// QueueOf is the sync queue under a, for this package's tests.
func QueueOf(a *App) *syncqueue.Queue { return a.queue }
