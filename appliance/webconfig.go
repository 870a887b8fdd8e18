package appliance

import (
	"log/slog"
	"net/http"

	"callbox/store"
)

// webConfig is what the web app asks the server before sign-in
// (GET /config.json): whether it may sign in without a sig (serve --dev),
// and then into which apps. A production server says only dev:false.
type webConfig struct {
	Dev  bool         `json:"dev"`
	Apps []webAppInfo `json:"apps,omitempty"`
}

type webAppInfo struct {
	SDKAppID uint32 `json:"sdkappid"`
	Name     string `json:"name"`
}

func (a *Appliance) handleWebConfig(w http.ResponseWriter, r *http.Request) {
	cfg := webConfig{Dev: a.cfg.Dev}
	if cfg.Dev {
		err := a.store.View(func(tx *store.Tx) error {
			apps, err := tx.Apps()
			for _, app := range apps {
				cfg.Apps = append(cfg.Apps, webAppInfo{SDKAppID: app.SDKAppID, Name: app.Name})
			}
			return err
		})
		if err != nil {
			a.log.Error("web config: list apps", slog.Any("err", err))
			writeJSON(w, http.StatusInternalServerError, struct {
				Error string `json:"error"`
			}{"internal error"})
			return
		}
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, cfg)
}
