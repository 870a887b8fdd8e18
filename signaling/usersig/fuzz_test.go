package usersig_test

import (
	"errors"
	"reflect"
	"testing"
	"time"

	"callbox/signaling/usersig"
)

//go:generate go run gen_corpus.go

// The seed corpus in testdata/fuzz/FuzzVerify is written by gen_corpus.go
// with these same values; keep them in step.
const (
	fuzzApp  = vecApp
	fuzzKey  = vecKey
	fuzzUser = vecUser
	fuzzNow  = vecTime + 100
)

var knownCodes = map[int]bool{70001: true, 70003: true, 70009: true, 70013: true, 70014: true, 70016: true, 70020: true}

// FuzzVerify: Verify never panics, fails only with *Error of a known
// code, and whatever it accepts is self-consistent and re-issues to a sig
// that verifies to the same Info.
func FuzzVerify(f *testing.F) {
	sig, err := usersig.Issue(fuzzApp, fuzzKey, fuzzUser, time.Hour, time.Unix(vecTime, 0))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(sig)
	now := time.Unix(fuzzNow, 0)
	keyFor := fixedKey(fuzzKey)
	f.Fuzz(func(t *testing.T, sig string) {
		info, err := usersig.Verify(sig, fuzzApp, fuzzUser, keyFor, now)
		if err != nil {
			var e *usersig.Error
			if !errors.As(err, &e) || !knownCodes[e.Code] {
				t.Fatalf("err = %v (%T), want a *usersig.Error with a spec code", err, err)
			}
			if !reflect.DeepEqual(info, usersig.Info{}) {
				t.Fatalf("failed Verify returned %+v", info)
			}
			return
		}
		if info.SDKAppID != fuzzApp || info.UserID != fuzzUser {
			t.Fatalf("accepted a sig for %d/%q", info.SDKAppID, info.UserID)
		}
		if info.Expire < 0 || info.Expire%time.Second != 0 || !info.ExpiresAt.Equal(info.Time.Add(info.Expire)) {
			t.Fatalf("inconsistent times: %+v", info)
		}
		if now.Unix() > info.ExpiresAt.Unix() {
			t.Fatalf("accepted a sig expired at %v", info.ExpiresAt)
		}
		if info.Expire < time.Second || info.Time.Unix() <= 0 || (info.UserBuf != nil && len(info.UserBuf) == 0) {
			return // valid on the wire, but Issue refuses to make such sigs
		}
		again, err := usersig.IssueWithBuf(fuzzApp, fuzzKey, fuzzUser, info.Expire, info.Time, info.UserBuf)
		if err != nil {
			t.Fatalf("re-issue %+v: %v", info, err)
		}
		info2, err := usersig.Verify(again, fuzzApp, fuzzUser, keyFor, now)
		if err != nil || !reflect.DeepEqual(info, info2) {
			t.Fatalf("re-issued sig verifies to %+v, %v; want %+v", info2, err, info)
		}
	})
}

func BenchmarkVerify(b *testing.B) {
	issued := time.Unix(vecTime, 0)
	sig, err := usersig.Issue(vecApp, vecKey, vecUser, 180*24*time.Hour, issued)
	if err != nil {
		b.Fatal(err)
	}
	keyFor := fixedKey(vecKey)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := usersig.Verify(sig, vecApp, vecUser, keyFor, issued); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkIssue(b *testing.B) {
	issued := time.Unix(vecTime, 0)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := usersig.Issue(vecApp, vecKey, vecUser, 180*24*time.Hour, issued); err != nil {
			b.Fatal(err)
		}
	}
}
