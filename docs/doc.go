// Package docs holds the project's reference documents (POLICY.md, the
// sanitization policy). It has no code; its tests hold the documents to the
// code they describe, so a renamed test, a moved file, a new drop reason or a
// changed knob limit fails the build until the document says so too.
package docs
