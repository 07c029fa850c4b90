// Package mobile offers the FieldSync client to native Kotlin and Swift
// apps through gobind (golang.org/x/mobile). gobind passes only numbers,
// strings, booleans, []byte and interfaces, so records travel as JSON; a
// panic crossing into the native side would kill the app, so every export
// recovers and returns it as an error.
package mobile

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"fieldsync/app"
	"fieldsync/syncqueue"
)

// Listener is implemented on the native side to hear sync state changes,
// as JSON: {"line": "...", "queued": 2, "summary": "...", "records": {"id": "words"}}.
type Listener interface {
	OnState(state []byte)
}

// Client is one device's FieldSync client.
type Client struct {
	core  *app.App
	unsub func()
}

func guard(err *error) {
	if v := recover(); v != nil {
		*err = fmt.Errorf("fieldsync: internal error: %v", v)
	}
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

// Close stops syncing; unsent work stays on the device.
func (c *Client) Close() (err error) {
	defer guard(&err)
	if c.unsub != nil {
		c.unsub()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return c.core.Close(ctx)
}

// Login signs in; an empty serverURL keeps the last one.
func (c *Client) Login(serverURL, user, password string) (err error) {
	defer guard(&err)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err = c.core.Login(ctx, serverURL, user, password)
	return err
}

// Logout signs out; without force it refuses while work is unsynced.
func (c *Client) Logout(force bool) (err error) {
	defer guard(&err)
	return c.core.Logout(context.Background(), force)
}

// JobsJSON returns the jobs on the device as a JSON array.
func (c *Client) JobsJSON() (b []byte, err error) {
	defer guard(&err)
	jobs, err := c.core.Jobs()
	if err != nil {
		return nil, err
	}
	return json.Marshal(jobs)
}

// JobJSON returns one job, by number or id, with its items, as JSON.
func (c *Client) JobJSON(ref string) (b []byte, err error) {
	defer guard(&err)
	d, err := c.core.Job(ref)
	if err != nil {
		return nil, err
	}
	return json.Marshal(d)
}

// AddNote appends a note; noteID comes from the form so a double tap saves once.
func (c *Client) AddNote(jobRef, noteID, text string) (err error) {
	defer guard(&err)
	_, err = c.core.AddNote(jobRef, noteID, text)
	return err
}

// Move changes a job's status.
func (c *Client) Move(jobRef, status string) (err error) {
	defer guard(&err)
	_, err = c.core.Move(jobRef, status)
	return err
}

// AddPart appends a part line.
func (c *Client) AddPart(jobRef, partID, sku, description string, quantity int64) (err error) {
	defer guard(&err)
	_, err = c.core.AddPart(jobRef, partID, sku, description, quantity)
	return err
}

// AddPhoto stores a photo's bytes on the device and appends it to a job.
func (c *Client) AddPhoto(jobRef, photoID, filename, contentType string, content []byte) (err error) {
	defer guard(&err)
	_, err = c.core.AddPhoto(jobRef, photoID, filename, contentType, bytesReader(content))
	return err
}

// SetFieldsJSON changes fields given as a JSON object.
func (c *Client) SetFieldsJSON(ref string, fields []byte) (err error) {
	defer guard(&err)
	var m map[string]any
	if err := json.Unmarshal(fields, &m); err != nil {
		return fmt.Errorf("fields: %w", err)
	}
	_, err = c.core.SetFields(ref, m)
	return err
}

// SyncNow tries at once.
func (c *Client) SyncNow() (err error) {
	defer guard(&err)
	return c.core.SyncNow(context.Background())
}

// Foreground tells the client whether the app is on screen.
func (c *Client) Foreground(front bool) (err error) {
	defer guard(&err)
	return c.core.Foreground(context.Background(), front)
}

// SetOffline simulates no signal, for testers.
func (c *Client) SetOffline(off bool) (err error) {
	defer guard(&err)
	return c.core.SetOffline(off)
}

// Subscribe calls l with the sync state now and at each change, from a
// background thread: post it to the UI thread.
func (c *Client) Subscribe(l Listener) {
	if c.unsub != nil {
		c.unsub()
	}
	c.unsub = c.core.Subscribe(func(st syncqueue.State) {
		defer func() { _ = recover() }()
		l.OnState(stateJSON(st))
	})
}

// stateJSON is the state as the native side reads it.
func stateJSON(st syncqueue.State) []byte {
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
