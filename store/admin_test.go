package store_test

import (
	"errors"
	"path/filepath"
	"testing"
	"time"

	"callbox/store"
)

// Accounts and sessions survive a reopen; deleting an account or
// changing whose sessions end takes exactly that account's sessions;
// idle ones go by their last-seen time.
func TestAdminsAndSessions(t *testing.T) {
	path := filepath.Join(t.TempDir(), store.FileName)
	s, err := store.Open(path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	must(t, s.Update(func(tx *store.Tx) error {
		for _, name := range []string{"root", "ops"} {
			if err := tx.PutAdmin(store.Admin{Name: name, Hash: "$argon2id$x", Created: t0, PasswordChanged: t0}); err != nil {
				return err
			}
		}
		for i, sess := range []store.Session{
			{Admin: "root", CSRF: "a", Created: t0, Seen: t0},
			{Admin: "root", CSRF: "b", Created: t0, Seen: t0.Add(time.Hour)},
			{Admin: "ops", CSRF: "c", Created: t0, Seen: t0},
		} {
			if err := tx.PutSession([]byte{byte(i + 1)}, sess); err != nil {
				return err
			}
		}
		return nil
	}))
	if err := s.Update(func(tx *store.Tx) error { return tx.PutAdmin(store.Admin{Hash: "x"}) }); err == nil {
		t.Error("an account without a name was stored")
	}
	must(t, s.Close())

	s, err = store.Open(path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	must(t, s.Update(func(tx *store.Tx) error {
		admins, err := tx.Admins()
		if err != nil || len(admins) != 2 || admins[0].Name != "ops" || admins[1].Name != "root" {
			t.Errorf("admins after reopen = %+v, %v", admins, err)
		}
		if sess, err := tx.Session([]byte{2}); err != nil || sess.CSRF != "b" {
			t.Errorf("session 2 = %+v, %v", sess, err)
		}
		if n, err := tx.DeleteSessionsIdle(t0.Add(time.Minute)); err != nil || n != 2 {
			t.Errorf("idle sessions deleted: %d, %v; want the two seen at t0", n, err)
		}
		if err := tx.DeleteAdmin("root"); err != nil {
			return err
		}
		if _, err := tx.Session([]byte{2}); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("root's session outlived root: %v", err)
		}
		if err := tx.DeleteAdmin("root"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("delete twice: %v", err)
		}
		if _, err := tx.Admin("ops"); err != nil {
			t.Errorf("ops: %v", err)
		}
		return nil
	}))
}
