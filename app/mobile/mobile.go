// Package mobile offers the FieldSync client to native Kotlin and Swift
// apps through gobind (golang.org/x/mobile). gobind passes only numbers,
// strings, booleans, []byte and interfaces, so records travel as JSON; a
// panic crossing into the native side would kill the app, so every export
// recovers and returns it as an error.
//
// It owns only the crossing: the native screens are the native side's,
// and everything else is the facade's. It imports app and nothing else
// of ours.
package mobile

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"fieldsync/app"
)

// Listener is implemented on the native side to hear sync state changes,
// as JSON: {"line": "...", "queued": 2, "summary": "...", "records": {"id": "words"}}.
type Listener interface {
	OnState(state []byte)
}

// Client is one device's FieldSync client. Native code may make one with
// new Client(), which is not open: every method then says so.
type Client struct {
	mu    sync.Mutex
	core  *app.App // nil until Open, and after Close
	unsub func()
}

// errNotOpen is what a client that was never opened, or was closed, says.
var errNotOpen = errors.New("the client is not open: call Open first")

func guard(err *error) {
	if v := recover(); v != nil {
		*err = fmt.Errorf("fieldsync: internal error: %v", v)
	}
}

// app returns the open client's core.
func (c *Client) app() (*app.App, error) {
	if c == nil {
		return nil, errNotOpen
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.core == nil {
		return nil, errNotOpen
	}
	return c.core, nil
}

// Open opens the client whose data lives in dataDir (the app's files
// directory) and starts syncing while signed in. serverURL is used until
// the user signs in to another.
func Open(dataDir, serverURL string) (c *Client, err error) {
	defer guard(&err)
	core, err := app.Open(dataDir, app.Config{ServerURL: serverURL, Background: true})
	if err != nil {
		return nil, err
	}
	return &Client{core: core}, nil
}

// Close stops syncing; unsent work stays on the device. The client is
// not open after.
func (c *Client) Close() (err error) {
	defer guard(&err)
	if _, err := c.app(); err != nil {
		return err
	}
	c.mu.Lock()
	core, unsub := c.core, c.unsub
	c.core, c.unsub = nil, nil
	c.mu.Unlock()
	if core == nil {
		return errNotOpen // closed meanwhile by another thread
	}
	if unsub != nil {
		unsub()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return core.Close(ctx)
}

// Login signs in; an empty serverURL keeps the last one.
func (c *Client) Login(serverURL, user, password string) (err error) {
	defer guard(&err)
	core, err := c.app()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err = core.Login(ctx, serverURL, user, password)
	return err
}

// ProtocolNote says, for the user, whether the app should be updated: ""
// unless the server is newer than the app.
func (c *Client) ProtocolNote() (note string, err error) {
	defer guard(&err)
	core, err := c.app()
	if err != nil {
		return "", err
	}
	return core.ProtocolNote(), nil
}

// Logout signs out; without force it refuses while work is unsynced.
func (c *Client) Logout(force bool) (err error) {
	defer guard(&err)
	core, err := c.app()
	if err != nil {
		return err
	}
	return core.Logout(context.Background(), force)
}

// JobsJSON returns the jobs on the device as a JSON array.
func (c *Client) JobsJSON() (b []byte, err error) {
	defer guard(&err)
	core, err := c.app()
	if err != nil {
		return nil, err
	}
	jobs, err := core.Jobs()
	if err != nil {
		return nil, err
	}
	return json.Marshal(jobs)
}

// JobJSON returns one job, by number or id, with its items, as JSON.
func (c *Client) JobJSON(ref string) (b []byte, err error) {
	defer guard(&err)
	core, err := c.app()
	if err != nil {
		return nil, err
	}
	d, err := core.Job(ref)
	if err != nil {
		return nil, err
	}
	return json.Marshal(d)
}

// FormID is a fresh id for a form the native screen opens (a note, a
// part line, a photo): pass it when the form is saved, so that a double
// tap saves once. The client makes every id of what the device creates.
func (c *Client) FormID() (id string, err error) {
	defer guard(&err)
	core, err := c.app()
	if err != nil {
		return "", err
	}
	return core.FormID(), nil
}

// AddNote appends a note; noteID comes from FormID when the form opens,
// so a double tap saves once.
func (c *Client) AddNote(jobRef, noteID, text string) (err error) {
	defer guard(&err)
	core, err := c.app()
	if err != nil {
		return err
	}
	_, err = core.AddNote(jobRef, noteID, text)
	return err
}

// Move changes a job's status.
func (c *Client) Move(jobRef, status string) (err error) {
	defer guard(&err)
	core, err := c.app()
	if err != nil {
		return err
	}
	_, err = core.Move(jobRef, status)
	return err
}

// AddPart appends a part line.
func (c *Client) AddPart(jobRef, partID, sku, description string, quantity int64) (err error) {
	defer guard(&err)
	core, err := c.app()
	if err != nil {
		return err
	}
	_, err = core.AddPart(jobRef, partID, sku, description, quantity)
	return err
}

// AddPhoto stores a photo's bytes on the device and appends it to a job.
func (c *Client) AddPhoto(jobRef, photoID, filename, contentType string, content []byte) (err error) {
	defer guard(&err)
	core, err := c.app()
	if err != nil {
		return err
	}
	_, err = core.AddPhoto(jobRef, photoID, filename, contentType, bytesReader(content))
	return err
}

// SetFieldsJSON changes fields given as a JSON object.
func (c *Client) SetFieldsJSON(ref string, fields []byte) (err error) {
	defer guard(&err)
	core, err := c.app()
	if err != nil {
		return err
	}
	var m map[string]any
	if err := json.Unmarshal(fields, &m); err != nil {
		return fmt.Errorf("fields: %w", err)
	}
	_, err = core.SetFields(ref, m)
	return err
}

// SyncNow tries at once.
func (c *Client) SyncNow() (err error) {
	defer guard(&err)
	core, err := c.app()
	if err != nil {
		return err
	}
	return core.SyncNow(context.Background())
}

// Foreground tells the client whether the app is on screen.
func (c *Client) Foreground(front bool) (err error) {
	defer guard(&err)
	core, err := c.app()
	if err != nil {
		return err
	}
	return core.Foreground(context.Background(), front)
}

// SetOffline simulates no signal, for testers.
func (c *Client) SetOffline(off bool) (err error) {
	defer guard(&err)
	core, err := c.app()
	if err != nil {
		return err
	}
	return core.SetOffline(off)
}

// Subscribe calls l with the sync state now and at each change, from a
// background thread: post it to the UI thread. It replaces the listener
// subscribed before, if any.
func (c *Client) Subscribe(l Listener) (err error) {
	defer guard(&err)
	core, err := c.app()
	if err != nil {
		return err
	}
	if l == nil {
		return errors.New("subscribe: no listener")
	}
	unsub := core.Subscribe(func(st app.SyncState) {
		// The listener is native code: its failure must not end the
		// sync loop that calls it.
		defer func() { _ = recover() }()
		l.OnState(stateJSON(st))
	})
	c.mu.Lock()
	closed := c.core == nil
	prev := c.unsub
	if closed {
		prev = unsub
	} else {
		c.unsub = unsub
	}
	c.mu.Unlock()
	if prev != nil {
		prev()
	}
	if closed {
		return errNotOpen
	}
	return nil
}

// stateJSON is the state as the native side reads it.
func stateJSON(st app.SyncState) []byte {
	now := time.Now()
	records := map[string]string{}
	for id := range st.Records {
		records[id] = st.Words(id, now)
	}
	b, _ := json.Marshal(map[string]any{
		"line": st.Line(now), "queued": st.Queued, "held": st.Held, "refused": st.Refused,
		"photos": st.Photos, "summary": st.Summary, "offline": st.Offline, "records": records,
	})
	return b
}
