// Package sdkcheck runs the vendor's official Go SDK
// (github.com/huaweicloud/huaweicloud-sdk-go-v3, services/meeting/v1)
// against meetingbot's fake meeting API (meetingapi/meetingapitest), for
// every call meetingbot makes, and compares what the SDK sends with what
// meetingbot's own client (meetingapi) sends. If a path, a method, a field
// name or an integer flag drifts from the vendor's, a test here fails.
//
// It is a module of its own so that the SDK (a 45 MB module) never enters
// meetingbot's go.mod, image build or go mod download. Run it with
//
//	cd sdkcheck && go test ./...
package sdkcheck
