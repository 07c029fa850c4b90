package localstore

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/google/uuid"
)

// NewDeviceID returns a fresh device id. The server binds a device id to
// the first user who signs in with it, so a device that changes hands
// takes a new one (Reset).
func NewDeviceID() string { return "device-" + uuid.NewString() }

// DeviceID returns this device's id, made the first time it is asked for.
func (s *Store) DeviceID() (string, error) {
	var id string
	if ok, err := s.getMeta("device_id", &id); err != nil || ok {
		return id, err
	}
	// First use: the first id written wins, whoever else asks at once.
	b, _ := json.Marshal(s.newDeviceID())
	if _, err := s.db.Exec(`INSERT OR IGNORE INTO meta(key, value) VALUES ('device_id', ?)`, b); err != nil {
		return "", fmt.Errorf("write device_id: %w", err)
	}
	_, err := s.getMeta("device_id", &id)
	return id, err
}

// Reset forgets everything the server sent and every pending edit: for a
// sign-out after the user agreed to lose unsynced work, or another user.
// The device starts again under deviceID (a fresh id when it is ""): the
// old id stays bound on the server to the user who signed in with it.
func (s *Store) Reset(deviceID string) error {
	if deviceID == "" {
		deviceID = s.newDeviceID()
	}
	defer s.removePhotoFiles()
	return s.tx(context.Background(), func(tx txn) error {
		for _, q := range []string{`DELETE FROM records`, `DELETE FROM outbox`, `DELETE FROM photos`,
			`DELETE FROM reviews`, `DELETE FROM history`, `DELETE FROM users`, `DELETE FROM meta WHERE key IN ('cursor', 'rules')`} {
			if _, err := tx.Exec(q); err != nil {
				return err
			}
		}
		return setMeta(tx, "device_id", deviceID)
	})
}
