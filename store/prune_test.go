package store_test

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"callbox/signaling/call/record"
	"callbox/store"
)

// ended is call() ended at end.
func ended(app uint32, id string, start, end time.Time, users ...string) record.Call {
	rec := call(app, id, start, record.CallEnded, users...)
	rec.EndAt = end
	return rec
}

func TestPruneCallsRemovesOnlyOldEndedRecords(t *testing.T) {
	s, path := openTemp(t)
	const app = 1400000001
	const batch = 500
	cutoff := t0.Add(90 * 24 * time.Hour)
	// More than two batches' worth of old records, each with an index
	// entry per participant, and the records that must stay.
	// A call still live when its app was deleted: it never ends.
	gone, err := s.CreateApp("deleted", t0)
	if err != nil {
		t.Fatal(err)
	}
	var oldIDs []string
	err = s.Update(func(tx *store.Tx) error {
		if err := tx.PutCall(call(gone.SDKAppID, "orphan", t0, record.CallActive, "alice")); err != nil {
			return err
		}
		if err := tx.DeleteApp(gone.SDKAppID); err != nil {
			return err
		}
		for i := range 2*batch + 100 {
			id := fmt.Sprintf("old%04d", i)
			oldIDs = append(oldIDs, id)
			start := t0.Add(time.Duration(i) * time.Second)
			if err := tx.PutCall(ended(app, id, start, start.Add(time.Minute), "alice", "bob")); err != nil {
				return err
			}
		}
		for _, rec := range []record.Call{
			// Live since before the cutoff: never pruned.
			call(app, "live-old", t0, record.CallActive, "alice", "carol"),
			// Started before the cutoff but ended after it.
			ended(app, "spans", cutoff.Add(-time.Hour), cutoff.Add(time.Minute), "alice", "dave"),
			// Ended exactly at the cutoff: not older than it.
			ended(app, "at-cutoff", cutoff.Add(-time.Hour), cutoff, "bob"),
			ended(app, "new", cutoff.Add(time.Hour), cutoff.Add(2*time.Hour), "alice", "bob"),
			// Same users in another app.
			ended(app+1, "other-app-old", t0, t0.Add(time.Minute), "alice"),
		} {
			if err := tx.PutCall(rec); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}

	var results []store.PruneResult
	var from store.PruneCursor
	for {
		var r store.PruneResult
		err := s.Update(func(tx *store.Tx) error {
			var err error
			r, err = tx.PruneCalls(cutoff, batch, from)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		results = append(results, r)
		if !r.More {
			break
		}
		if len(results) > 10 {
			t.Fatalf("pruning does not end: %+v", results)
		}
		from = r.Next
	}
	var deleted []int
	for _, r := range results {
		deleted = append(deleted, r.Deleted)
	}
	// 1102 old records of three apps, and live-old, spans and at-cutoff
	// visited but kept: 1105 visits in batches of 500, live-old among the
	// first.
	if want := []int{batch - 1, batch, 103}; !slices.Equal(deleted, want) {
		t.Fatalf("deleted per batch = %v, want %v", deleted, want)
	}

	check := func(t *testing.T, s *store.Store) {
		t.Helper()
		tests := []struct {
			name string
			f    store.CallFilter
			want []string
		}{
			{"all", store.CallFilter{}, []string{"new", "spans", "at-cutoff", "live-old"}},
			{"alice", store.CallFilter{SDKAppID: app, User: "alice"}, []string{"new", "spans", "live-old"}},
			{"bob", store.CallFilter{SDKAppID: app, User: "bob"}, []string{"new", "at-cutoff"}},
			{"carol", store.CallFilter{SDKAppID: app, User: "carol"}, []string{"live-old"}},
			{"alice in the other app", store.CallFilter{SDKAppID: app + 1, User: "alice"}, nil},
			{"alice in the deleted app", store.CallFilter{SDKAppID: gone.SDKAppID, User: "alice"}, nil},
			{"before the cutoff", store.CallFilter{Until: cutoff}, []string{"spans", "at-cutoff", "live-old"}},
		}
		must(t, s.View(func(tx *store.Tx) error {
			for _, tc := range tests {
				// Calls reads every index entry it walks: one left
				// behind by a pruned record fails with ErrNotFound.
				got, err := tx.Calls(tc.f)
				if err != nil {
					t.Errorf("%s: %v", tc.name, err)
				} else if g := ids(got); !equal(g, tc.want) {
					t.Errorf("%s: got %v, want %v", tc.name, g, tc.want)
				}
			}
			if live, _ := tx.LiveCalls(); !equal(ids(live), []string{"live-old"}) {
				t.Errorf("live calls = %v", ids(live))
			}
			if _, err := tx.Call(app, oldIDs[len(oldIDs)-1]); err == nil {
				t.Errorf("pruned record %s still reads back", oldIDs[len(oldIDs)-1])
			}
			return nil
		}))
	}
	check(t, s)

	s.Close()
	s, err = store.Open(path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	check(t, s)
	// Nothing is left to prune; the kept records are visited again.
	err = s.Update(func(tx *store.Tx) error {
		r, err := tx.PruneCalls(cutoff, batch, store.PruneCursor{})
		if err == nil && (r.Deleted != 0 || r.More) {
			t.Errorf("second prune = %+v, want nothing", r)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}
