package store_test

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"testing"

	bolt "go.etcd.io/bbolt"

	"callbox/store"
)

// A version 1 file's queued events are indexed by app and get event ids
// when migration 2 runs.
func TestMigrationIndexesOutbox(t *testing.T) {
	path := filepath.Join(t.TempDir(), store.FileName)
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	must(t, db.Update(func(tx *bolt.Tx) error {
		meta, _ := tx.CreateBucket([]byte("meta"))
		meta.Put([]byte("magic"), []byte("callbox"))
		meta.Put([]byte("schema_version"), binary.BigEndian.AppendUint64(nil, 1))
		for _, b := range []string{"apps", "calls", "calls_by_time", "calls_by_user", "calls_live", "settings"} {
			tx.CreateBucket([]byte(b))
		}
		out, _ := tx.CreateBucket([]byte("outbox"))
		for i, app := range []uint32{7, 5, 7} {
			seq, _ := out.NextSequence()
			v := fmt.Sprintf(`{"Seq":%d,"SDKAppID":%d,"Command":"caller_start_call","Body":{"n":%d}}`, seq, app, i)
			out.Put(binary.BigEndian.AppendUint64(nil, seq), []byte(v))
		}
		return nil
	}))
	db.Close()
	s, err := store.Open(path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	must(t, s.View(func(tx *store.Tx) error {
		apps, _ := tx.OutboxApps()
		seven, _ := tx.AppOutbox(7, 0, 0)
		five, _ := tx.AppOutbox(5, 0, 0)
		if fmt.Sprint(apps) != "[5 7]" || len(seven) != 2 || seven[0].Seq != 1 || seven[1].Seq != 3 || len(five) != 1 {
			t.Errorf("apps %v, app 7 %+v, app 5 %+v", apps, seven, five)
		}
		for _, e := range append(seven, five...) {
			if len(e.EventID) != 36 {
				t.Errorf("entry %d has event id %q", e.Seq, e.EventID)
			}
		}
		return nil
	}))
}

func TestOutboxByApp(t *testing.T) {
	s, _ := openTemp(t)
	var seqs []uint64
	must(t, s.Update(func(tx *store.Tx) error {
		for _, app := range []uint32{2, 1, 2, 2, 1} {
			seq, err := tx.AppendOutbox(store.OutboxEntry{SDKAppID: app, Command: "x", Body: json.RawMessage(`{}`), Created: t0})
			if err != nil {
				return err
			}
			seqs = append(seqs, seq)
		}
		return nil
	}))
	must(t, s.Update(func(tx *store.Tx) error {
		if err := tx.AckOutbox(2, seqs[0]); err != nil {
			return err
		}
		return tx.DeleteOutbox(seqs[1]) // the old way, without the app
	}))
	must(t, s.View(func(tx *store.Tx) error {
		two, _ := tx.AppOutbox(2, 0, 0)
		if len(two) != 2 || two[0].Seq != seqs[2] || two[0].EventID == "" || two[0].EventID == two[1].EventID {
			t.Errorf("app 2: %+v", two)
		}
		if after, _ := tx.AppOutbox(2, seqs[2], 1); len(after) != 1 || after[0].Seq != seqs[3] {
			t.Errorf("app 2 after %d: %+v", seqs[2], after)
		}
		if n, oldest, _ := tx.OutboxDepth(1); n != 1 || !oldest.Equal(t0) {
			t.Errorf("app 1 depth %d oldest %v", n, oldest)
		}
		if all, _ := tx.Outbox(0, 0); len(all) != 3 {
			t.Errorf("outbox %+v", all)
		}
		return nil
	}))
}

// The delivery log keeps the last DeliveryLogSize attempts per app,
// newest first, without touching another app's.
func TestDeliveryLogIsBounded(t *testing.T) {
	s, _ := openTemp(t)
	n := store.DeliveryLogSize + 25
	must(t, s.Update(func(tx *store.Tx) error {
		for i := 1; i <= n; i++ {
			d := store.Delivery{Seq: uint64(i), Command: "x", Attempt: 1}
			if i%10 == 0 {
				d.Error = "HTTP 500"
			}
			if err := tx.AppendDelivery(9, d); err != nil {
				return err
			}
		}
		for _, app := range []uint32{8, 10} {
			if err := tx.AppendDelivery(app, store.Delivery{Seq: 1}); err != nil {
				return err
			}
		}
		return nil
	}))
	must(t, s.View(func(tx *store.Tx) error {
		log, _ := tx.Deliveries(9, 0, false)
		if len(log) != store.DeliveryLogSize || log[0].Seq != uint64(n) || log[len(log)-1].Seq != 26 {
			t.Errorf("log of %d from %d to %d", len(log), log[0].Seq, log[len(log)-1].Seq)
		}
		failed, _ := tx.Deliveries(9, 3, true)
		if len(failed) != 3 || failed[0].Seq != 1020 || failed[2].Seq != 1000 {
			t.Errorf("failed %+v", failed)
		}
		for _, app := range []uint32{8, 10} {
			if l, _ := tx.Deliveries(app, 0, false); len(l) != 1 {
				t.Errorf("app %d log %+v", app, l)
			}
		}
		return nil
	}))
}

func TestDeadLetters(t *testing.T) {
	s, _ := openTemp(t)
	var e store.OutboxEntry
	must(t, s.Update(func(tx *store.Tx) error {
		if _, err := tx.AppendOutbox(store.OutboxEntry{SDKAppID: 3, Command: "x", Body: json.RawMessage(`{}`), Created: t0}); err != nil {
			return err
		}
		out, _ := tx.AppOutbox(3, 0, 0)
		e = out[0]
		return tx.ParkOutbox(store.DeadEntry{OutboxEntry: e, Attempts: 9, LastError: "HTTP 500", DeadAt: t0.Add(24e9)})
	}))
	var again store.OutboxEntry
	must(t, s.Update(func(tx *store.Tx) error {
		if out, _ := tx.AppOutbox(3, 0, 0); len(out) != 0 {
			t.Errorf("parked entry still queued: %+v", out)
		}
		dead, _ := tx.DeadEntries(3)
		if n, _ := tx.DeadCount(3); n != 1 || len(dead) != 1 || dead[0].Attempts != 9 || dead[0].EventID != e.EventID {
			t.Errorf("dead %+v", dead)
		}
		var err error
		again, err = tx.RequeueDead(3, e.Seq, t0.Add(48e9))
		if err != nil {
			return err
		}
		if _, err := tx.RequeueDead(3, e.Seq, t0); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("second requeue: %v", err)
		}
		return nil
	}))
	must(t, s.View(func(tx *store.Tx) error {
		out, _ := tx.AppOutbox(3, 0, 0)
		if len(out) != 1 || out[0].Seq != again.Seq || out[0].Seq <= e.Seq || out[0].EventID != e.EventID || !out[0].Created.Equal(t0.Add(48e9)) {
			t.Errorf("requeued %+v, was %+v", out, e)
		}
		if n, _ := tx.DeadCount(3); n != 0 {
			t.Errorf("%d dead left", n)
		}
		return nil
	}))
}

// A webhook needs its app, and goes with it.
func TestWebhookConfig(t *testing.T) {
	s, _ := openTemp(t)
	w := store.Webhook{SDKAppID: 4, URL: "https://b.example/cb", EventCallbacks: true, Events: []string{"start_call"}}
	must(t, s.Update(func(tx *store.Tx) error {
		if err := tx.PutWebhook(w); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("webhook of a missing app: %v", err)
		}
		if err := tx.PutApp(store.App{SDKAppID: 4, Key: "k"}); err != nil {
			return err
		}
		return tx.PutWebhook(w)
	}))
	must(t, s.Update(func(tx *store.Tx) error {
		got, err := tx.Webhook(4)
		if err != nil || got.URL != w.URL || len(got.Events) != 1 {
			t.Errorf("webhook %+v, %v", got, err)
		}
		return tx.DeleteApp(4)
	}))
	must(t, s.View(func(tx *store.Tx) error {
		if _, err := tx.Webhook(4); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("webhook outlived its app: %v", err)
		}
		if all, _ := tx.Webhooks(); len(all) != 0 {
			t.Errorf("webhooks %+v", all)
		}
		return nil
	}))
}
