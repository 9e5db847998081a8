package image

import (
	"debug/buildinfo"
	"sort"
)

// Manifest is /etc/rackwall/manifest.json: what this root file system is
// and what it was built from.
type Manifest struct {
	Product   string            `json:"product"`
	Board     string            `json:"board"`
	Version   string            `json:"version"`
	BuildTime string            `json:"build_time"` // SOURCE_DATE_EPOCH, RFC 3339
	GoVersion string            `json:"go_version"`
	Kernel    ModuleVersion     `json:"kernel"`
	Firmware  *ModuleVersion    `json:"firmware,omitempty"`
	Programs  []ProgramManifest `json:"programs"`
}

// ModuleVersion names one Go module at one version.
type ModuleVersion struct {
	Path    string `json:"path"`
	Version string `json:"version"`
}

// ProgramManifest records the build of one binary.
type ProgramManifest struct {
	Path    string          `json:"path"`
	Package string          `json:"package"`
	Modules []ModuleVersion `json:"modules"` // every module linked in
}

// programManifest reads the module list embedded in a built binary.
func programManifest(binary, onBox, pkg string) (ProgramManifest, string, error) {
	bi, err := buildinfo.ReadFile(binary)
	if err != nil {
		return ProgramManifest{}, "", err
	}
	pm := ProgramManifest{Path: onBox, Package: pkg}
	for _, d := range bi.Deps {
		if d.Replace != nil {
			d = d.Replace
		}
		pm.Modules = append(pm.Modules, ModuleVersion{Path: d.Path, Version: d.Version})
	}
	sort.Slice(pm.Modules, func(i, j int) bool { return pm.Modules[i].Path < pm.Modules[j].Path })
	return pm, bi.GoVersion, nil
}
