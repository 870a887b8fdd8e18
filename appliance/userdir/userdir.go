// Package userdir is the web app's user directory over the store: who
// signed in to each app (with display names), each user's added contacts,
// and a user's call records. It implements signaling.Directory; appliance
// wires it.
package userdir

import (
	"context"
	"errors"
	"fmt"
	"time"

	"callbox/signaling"
	"callbox/signaling/call/record"
	"callbox/store"
)

// Dir implements signaling.Directory over a store.
type Dir struct{ st *store.Store }

// New returns a Dir over st.
func New(st *store.Store) *Dir { return &Dir{st: st} }

var _ signaling.Directory = (*Dir)(nil)

// SignedIn records a sign-in in the app's directory. Most sign-ins change
// nothing (a known user, no new name): those are a read, not a commit.
func (d *Dir) SignedIn(_ context.Context, app uint32, user, name string, at time.Time) (string, error) {
	var known store.User
	err := d.st.View(func(tx *store.Tx) error {
		var err error
		known, err = tx.User(app, user)
		return err
	})
	switch {
	case err == nil && (name == "" || name == known.Name):
		return known.Name, nil
	case err != nil && !errors.Is(err, store.ErrNotFound):
		return "", fmt.Errorf("directory sign-in %d/%s: %w", app, user, err)
	}
	var stored string
	err = d.st.Update(func(tx *store.Tx) error {
		u, err := tx.User(app, user)
		if errors.Is(err, store.ErrNotFound) {
			u, err = store.User{SDKAppID: app, UserID: user, FirstSeen: at}, nil
		}
		if err != nil {
			return err
		}
		if name != "" {
			u.Name = name
		}
		stored = u.Name
		return tx.PutUser(u)
	})
	if err != nil {
		return "", fmt.Errorf("directory sign-in %d/%s: %w", app, user, err)
	}
	return stored, nil
}

// Contacts is the app's directory joined with owner's added contacts.
func (d *Dir) Contacts(_ context.Context, app uint32, owner string) ([]signaling.DirEntry, error) {
	var users []store.User
	var added []store.Contact
	err := d.st.View(func(tx *store.Tx) error {
		var err error
		if users, err = tx.Users(app); err != nil {
			return err
		}
		added, err = tx.Contacts(app, owner)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("contacts of %d/%s: %w", app, owner, err)
	}
	// Both lists are sorted by userID: merge them.
	out := make([]signaling.DirEntry, 0, len(users)+len(added))
	i, j := 0, 0
	for i < len(users) || j < len(added) {
		switch {
		case j == len(added) || i < len(users) && users[i].UserID < added[j].UserID:
			out = append(out, signaling.DirEntry{UserID: users[i].UserID, Name: users[i].Name, SignedIn: true})
			i++
		case i == len(users) || added[j].UserID < users[i].UserID:
			out = append(out, signaling.DirEntry{UserID: added[j].UserID, Added: true})
			j++
		default:
			out = append(out, signaling.DirEntry{UserID: users[i].UserID, Name: users[i].Name, SignedIn: true, Added: true})
			i++
			j++
		}
	}
	return out, nil
}

// AddContact adds contact to owner's list, up to max entries.
func (d *Dir) AddContact(_ context.Context, app uint32, owner, contact string, max int, at time.Time) (signaling.DirEntry, error) {
	e := signaling.DirEntry{UserID: contact, Added: true}
	err := d.st.Update(func(tx *store.Tx) error {
		have, err := tx.Contacts(app, owner)
		if err != nil {
			return err
		}
		again := false
		for _, h := range have {
			again = again || h.UserID == contact
		}
		if !again && len(have) >= max {
			return signaling.ErrContactsFull
		}
		u, err := tx.User(app, contact)
		switch {
		case err == nil:
			e.Name, e.SignedIn = u.Name, true
		case !errors.Is(err, store.ErrNotFound):
			return err
		}
		if again {
			return nil
		}
		return tx.PutContact(app, owner, store.Contact{UserID: contact, Added: at})
	})
	if err != nil {
		return signaling.DirEntry{}, fmt.Errorf("add contact %q for %d/%s: %w", contact, app, owner, err)
	}
	return e, nil
}

// History is user's call records, newest first.
func (d *Dir) History(_ context.Context, app uint32, user string, before time.Time, limit int) ([]record.Call, error) {
	var recs []record.Call
	err := d.st.View(func(tx *store.Tx) error {
		var err error
		recs, err = tx.Calls(store.CallFilter{SDKAppID: app, User: user, Until: before, Limit: limit})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("history of %d/%s: %w", app, user, err)
	}
	return recs, nil
}
