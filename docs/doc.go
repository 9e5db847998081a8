// Package docs holds the project's reference documents: POLICY.md (the
// sanitization policy), MANUAL.md (the operator's manual), IMAGE.md (the
// disk image and the boards) and DESIGN.md. It has no code; its tests hold
// the documents to the code they describe, so a renamed test, a moved file,
// a new drop reason or a changed knob limit fails the build until the
// document says so too, and every relative link in the repository's
// markdown must lead to a file and heading that exist.
package docs
