// Package store keeps callbox's durable state in one bbolt file,
// <data>/callbox.db: apps, call records with their indexes, the webhook
// outbox (indexed by app), webhook configurations, delivery logs and dead
// letters, admin console accounts and sessions, and settings. It owns the
// schema and its migrations and hands out typed accessors only; no
// *bolt.Tx leaves the package.
package store

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// FileName is the database file inside the data directory.
const FileName = "callbox.db"

// DefaultLockTimeout is how long Open waits for another process to release
// the file lock before giving up with ErrLocked.
const DefaultLockTimeout = 200 * time.Millisecond

var (
	// ErrNotFound is returned by accessors when the item does not exist.
	ErrNotFound = errors.New("not found")
	// ErrLocked means another process has the database open.
	ErrLocked = errors.New("callbox is already running on this data directory; use the running server or stop it")
	// ErrForeign means the file is not a callbox database, or is corrupt.
	ErrForeign = errors.New("not a callbox database (corrupt or foreign file)")
	// ErrTooNew means the file was written by a newer callbox.
	ErrTooNew = errors.New("database schema is newer than this callbox")
)

// Options tune Open. The zero value is ready to use.
type Options struct {
	LockTimeout time.Duration // default DefaultLockTimeout
	ReadOnly    bool          // open without migrating or writing
}

// Store is an open callbox database. It is safe for concurrent use.
type Store struct {
	db   *bolt.DB
	path string
}

// Tx is a read or read-write transaction; its accessors are typed. A Tx is
// valid only inside the function given to Update or View.
type Tx struct {
	tx *bolt.Tx
}

// Open opens (creating if needed) the database at path and brings its
// schema up to date. It fails with ErrLocked when another process holds the
// file, ErrForeign for a file that is not a callbox database, and ErrTooNew
// for one from a newer release; in every failure case nothing is written.
func Open(path string, opts Options) (*Store, error) {
	if opts.LockTimeout <= 0 {
		opts.LockTimeout = DefaultLockTimeout
	}
	db, err := openBolt(path, opts)
	if err != nil {
		return nil, err
	}
	s := &Store{db: db, path: path}
	if err := s.migrate(opts.ReadOnly); err != nil {
		db.Close()
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	return s, nil
}

// boltOptions are the options of every callbox.db. Every call transition
// is a commit the client waits for: skipping the freelist write saves a
// page per commit (the freelist is rebuilt by a scan on open, cheap at our
// size).
func boltOptions(opts Options) *bolt.Options {
	return &bolt.Options{Timeout: opts.LockTimeout, ReadOnly: opts.ReadOnly,
		NoFreelistSync: true, FreelistType: bolt.FreelistMapType}
}

// openBolt opens path with bbolt and maps its errors to ours. Compact
// renames the compacted file over path while it holds the old file's
// lock, so an Open that waited for that lock would get the old, unlinked
// file and write into nothing: when path names another file once the lock
// is taken, it opens again.
func openBolt(path string, opts Options) (*bolt.DB, error) {
	for {
		if err := checkHeader(path); err != nil {
			return nil, err
		}
		before, beforeErr := os.Stat(path)
		// bbolt maps the pages its header counts and faults (SIGBUS) on
		// those a truncated file lacks: refuse it here with an error.
		if beforeErr == nil && before.Size() > 0 {
			if err := checkLength(path, before.Size()); err != nil {
				return nil, fmt.Errorf("open store %s: %w", path, err)
			}
		}
		db, err := bolt.Open(path, 0o600, boltOptions(opts))
		switch {
		case errors.Is(err, berrors.ErrTimeout):
			return nil, fmt.Errorf("open store %s: %w", path, ErrLocked)
		case errors.Is(err, berrors.ErrInvalid), errors.Is(err, berrors.ErrVersionMismatch), errors.Is(err, berrors.ErrChecksum):
			return nil, fmt.Errorf("open store %s: %w", path, ErrForeign)
		case err != nil:
			return nil, fmt.Errorf("open store %s: %w", path, err)
		}
		after, afterErr := os.Stat(path)
		if beforeErr != nil || afterErr != nil || os.SameFile(before, after) {
			return db, nil
		}
		db.Close()
	}
}

// checkHeader refuses a non-empty file that does not start like a bbolt
// file before bbolt gets to it: bbolt would otherwise try to interpret
// (and on a writable open, grow) someone else's file.
func checkHeader(path string) error {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("open store %s: %w", path, err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return fmt.Errorf("open store %s: %w", path, err)
	}
	if st.IsDir() {
		return fmt.Errorf("open store %s: is a directory", path)
	}
	if st.Size() == 0 {
		return nil
	}
	// A bbolt file starts with two meta pages; the magic is at offset 16
	// of the first (page header 16 bytes, then magic uint32 0xED0CDAED).
	var hdr [20]byte
	if _, err := io.ReadFull(f, hdr[:]); err != nil {
		return fmt.Errorf("open store %s: %w", path, ErrForeign)
	}
	magic := uint32(hdr[16]) | uint32(hdr[17])<<8 | uint32(hdr[18])<<16 | uint32(hdr[19])<<24
	if magic != 0xED0CDAED {
		return fmt.Errorf("open store %s: %w", path, ErrForeign)
	}
	return nil
}

// Path is the database file's path.
func (s *Store) Path() string { return s.path }

// Close closes the database; pending transactions finish first.
func (s *Store) Close() error {
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("close store %s: %w", s.path, err)
	}
	return nil
}

// Update runs fn in a read-write transaction, committed when fn returns nil.
func (s *Store) Update(fn func(tx *Tx) error) error {
	return s.db.Update(func(btx *bolt.Tx) error { return fn(&Tx{tx: btx}) })
}

// View runs fn in a read-only transaction.
func (s *Store) View(fn func(tx *Tx) error) error {
	return s.db.View(func(btx *bolt.Tx) error { return fn(&Tx{tx: btx}) })
}

// Backup writes a consistent copy of the whole database to w while the
// store stays usable, and returns the number of bytes written.
func (s *Store) Backup(ctx context.Context, w io.Writer) (int64, error) {
	var n int64
	err := s.db.View(func(btx *bolt.Tx) error {
		var err error
		n, err = btx.WriteTo(ctxWriter{ctx, w})
		return err
	})
	if cerr := ctx.Err(); err != nil && cerr != nil {
		// bbolt flattens the writer's error into text; report the cause.
		return n, fmt.Errorf("backup: %w", cerr)
	}
	if err != nil {
		return n, fmt.Errorf("backup: %w", err)
	}
	return n, nil
}

// ctxWriter stops a long backup when its context ends.
type ctxWriter struct {
	ctx context.Context
	w   io.Writer
}

func (c ctxWriter) Write(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.w.Write(p)
}
