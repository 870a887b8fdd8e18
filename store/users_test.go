package store_test

import (
	"errors"
	"testing"
	"time"

	"callbox/store"
)

// The directory and contact lists are per app, survive a reopen, and go
// with their app.
func TestUserDirectory(t *testing.T) {
	s, path := openTemp(t)
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	var app, other store.App
	must(t, s.Update(func(tx *store.Tx) error {
		var err error
		if app, err = tx.CreateApp("team", t0); err != nil {
			return err
		}
		if other, err = tx.CreateApp("other", t0); err != nil {
			return err
		}
		for _, u := range []store.User{
			{SDKAppID: app.SDKAppID, UserID: "bob", Name: "Bob B", FirstSeen: t0},
			{SDKAppID: app.SDKAppID, UserID: "alice", FirstSeen: t0},
			{SDKAppID: other.SDKAppID, UserID: "carol", FirstSeen: t0},
		} {
			if err := tx.PutUser(u); err != nil {
				return err
			}
		}
		if err := tx.PutContact(app.SDKAppID, "alice", store.Contact{UserID: "dave", Added: t0}); err != nil {
			return err
		}
		return tx.PutContact(app.SDKAppID, "alice", store.Contact{UserID: "bob", Added: t0})
	}))
	if err := s.Update(func(tx *store.Tx) error { return tx.PutUser(store.User{UserID: "x"}) }); err == nil {
		t.Error("PutUser without an app: no error")
	}
	s.Close()
	s, err := store.Open(path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	must(t, s.View(func(tx *store.Tx) error {
		users, err := tx.Users(app.SDKAppID)
		if err != nil || len(users) != 2 || users[0].UserID != "alice" || users[1].Name != "Bob B" || !users[1].FirstSeen.Equal(t0) {
			t.Errorf("Users = %+v, %v", users, err)
		}
		if u, err := tx.User(app.SDKAppID, "bob"); err != nil || u.Name != "Bob B" {
			t.Errorf("User(bob) = %+v, %v", u, err)
		}
		if _, err := tx.User(app.SDKAppID, "carol"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("User(carol) in the wrong app: %v", err)
		}
		cs, err := tx.Contacts(app.SDKAppID, "alice")
		if err != nil || len(cs) != 2 || cs[0].UserID != "bob" || cs[1].UserID != "dave" {
			t.Errorf("Contacts(alice) = %+v, %v", cs, err)
		}
		// "ali" must not see "alice"'s list: the owner ends at a 0 byte.
		if cs, _ := tx.Contacts(app.SDKAppID, "ali"); len(cs) != 0 {
			t.Errorf("Contacts(ali) = %+v", cs)
		}
		return nil
	}))
	must(t, s.Update(func(tx *store.Tx) error { return tx.DeleteApp(app.SDKAppID) }))
	must(t, s.View(func(tx *store.Tx) error {
		users, _ := tx.Users(app.SDKAppID)
		cs, _ := tx.Contacts(app.SDKAppID, "alice")
		kept, _ := tx.Users(other.SDKAppID)
		if len(users) != 0 || len(cs) != 0 || len(kept) != 1 {
			t.Errorf("after DeleteApp: users %+v, contacts %+v, other app %+v", users, cs, kept)
		}
		return nil
	}))
}
