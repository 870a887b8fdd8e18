package store

import (
	"errors"
	"fmt"
	"slices"
)

// Refusals of SetRESTAdmins.
var (
	ErrLastAdmin     = errors.New("an app keeps at least one REST admin account")
	ErrTooManyAdmins = fmt.Errorf("an app has at most %d REST admin accounts", MaxRESTAdmins)
)

// DefaultRESTAdmin is the admin account every app has until its list is
// changed (tencent-compat.md §2: "by default administrator").
const DefaultRESTAdmin = "administrator"

// MaxRESTAdmins caps an app's admin list.
const MaxRESTAdmins = 100

// RESTAdmins returns the app's REST admin accounts.
func (a App) RESTAdmins() []string {
	if len(a.Admins) == 0 {
		return []string{DefaultRESTAdmin}
	}
	return a.Admins
}

// SetRESTAdmins adds and removes REST admin accounts of an app (the
// caller validates the userIDs) and returns the app. Removing the last
// one is refused: an app always has an admin.
func (t *Tx) SetRESTAdmins(id uint32, add, remove []string) (App, error) {
	a, err := t.App(id)
	if err != nil {
		return App{}, err
	}
	list := slices.Clone(a.RESTAdmins())
	for _, u := range add {
		if !slices.Contains(list, u) {
			list = append(list, u)
		}
	}
	list = slices.DeleteFunc(list, func(u string) bool { return slices.Contains(remove, u) })
	if len(list) == 0 {
		return App{}, fmt.Errorf("app %d: %w", id, ErrLastAdmin)
	}
	if len(list) > MaxRESTAdmins {
		return App{}, fmt.Errorf("app %d: %w", id, ErrTooManyAdmins)
	}
	a.Admins = list
	if slices.Equal(list, []string{DefaultRESTAdmin}) {
		a.Admins = nil
	}
	return a, t.PutApp(a)
}
