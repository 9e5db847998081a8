package layout

// On-box paths of rackwall's own files: the image builder writes them, the
// programs on the box read them.
const (
	// ManifestPath describes the running root file system (image.Manifest).
	ManifestPath = "/etc/rackwall/manifest.json"
	// ServicesPath lists the programs init supervises.
	ServicesPath = "/etc/rackwall/services.json"
	// BoardPath is the board description the image was built for.
	BoardPath = "/etc/rackwall/board.json"
	// UpdateKeysDir holds the public keys trusted for update bundles.
	UpdateKeysDir = "/etc/rackwall/update-keys"
	// StateDir is where the appliance keeps its state on the perm partition.
	StateDir = "/perm/rackwall"
	// AdminHashPath presets the admin password (a bcrypt hash) on a fresh
	// image.
	AdminHashPath = StateDir + "/admin.hash"
)
